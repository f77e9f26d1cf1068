// harrier's counters in DPDK telemetry (dpdk-telemetry.py, or any client of
// the EAL's telemetry socket), beside DPDK's own /ethdev/... commands:
//   /harrier/stats            received, analysed, drops by cause, alerts
//   /harrier/ports,N          one port: packets, bytes, rates, NIC counters
//   /harrier/workers,N        one worker: packets, flow table, events, alerts
//   /harrier/alerts           alerts per detector
// Telemetry callbacks carry no user pointer, so one LiveStats is registered
// for the process; while none is (before start, after stop) they fail.
#pragma once

#include "control/live_stats.h"

namespace harrier {

// Registers the commands (once per process) and serves `stats` with them;
// false when DPDK refused to register them. (With EAL --no-telemetry they
// register, and nobody can ask.)
bool telemetry_attach(LiveStats* stats);
// Before `stats` goes away: later requests get an error.
void telemetry_detach();

}  // namespace harrier
