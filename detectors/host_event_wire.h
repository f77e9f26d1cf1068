// Host events between processes: what a sensor publishes for correlation
// (control/event_publisher.h) and a correlator reads back
// (control/correlator.h). A blob is a format version byte, then records,
// little-endian and packed: addresses take 4 or 16 bytes by family, and a
// detector's detail travels only when it is not all zeros.
//
// The decoder trusts nothing: whoever can write to the streams can hand it
// any bytes. Every field is checked against what the host stage accepts
// (address family, event kind, a detector of this build's registry), and a
// bad blob is refused whole, named by offset, never half-applied.
//
// Sensors and correlators must run the same harrier release: registry
// indexes and detectors' detail structs are this build's.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "detectors/host_event.h"

namespace harrier {

inline constexpr uint8_t kEventWireVersion = 1;
// The largest record (two IPv6 addresses and a detail).
inline constexpr size_t kEventWireMaxRecord = 8 + 8 + 2 * 17 + 6 * 2 + 5 + 1 + 32;

// Starts a blob (its version byte) when `out` is empty, then appends `e`.
void append_wire_event(std::string& out, const HostEvent& e);

// Decodes a whole blob into `out` (appended, `seq` numbering them from 0).
// `n_detectors`: registry size. On a bad blob returns false, leaves `out`
// as it was and says what and where in *error.
bool decode_wire_events(std::string_view blob, uint16_t n_detectors, std::vector<HostEvent>& out,
                        std::string* error);

}  // namespace harrier
