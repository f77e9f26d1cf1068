// What `harrierctl` can ask a running harrier: the handlers behind the
// control socket. Each reads only what is safe to read while the workers
// run (atomics, DPDK port statistics, configuration fixed at start).
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "capture/incident_recorder.h"
#include "capture/packet_filter.h"
#include "capture/pcapng_writer.h"
#include "control/config.h"
#include "control/control_server.h"
#include "control/live_stats.h"
#include "control/output.h"
#include "control/runtime_store.h"
#include "engine/pipeline.h"
#include "engine/source.h"

namespace harrier {

struct ControlContext {
  RuntimeStore* store;                    // the running configuration and its snapshots
  std::function<Config()> reload_config;  // loads the files again, CLI options over them
  Pipeline* pipeline;
  const std::vector<PortInput>* ports;
  PcapngWriter* capture;  // null: no recording configured
  const PacketFilter* capture_filter;
  const IncidentRecorder* incidents;
  bool pdump;
  std::chrono::steady_clock::time_point started;
  LiveStats* stats;
  const AlertOutput* output;  // the latest alerts, for `alerts tail`
};

// status, stats, detectors (list|enable|disable), reload, alerts (tail),
// capture (status|start|stop), shutdown.
std::map<std::string, ControlServer::Handler> control_handlers(const ControlContext& ctx);

}  // namespace harrier
