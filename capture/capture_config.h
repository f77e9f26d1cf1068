// What to record, from the config's `capture:` section and the command line.
#pragma once

#include <cstdint>
#include <string>

#include "capture/capture_files.h"

namespace harrier {

struct IncidentCaptureConfig {
  std::string dir;         // where incident pcapngs go; "" = off
  uint32_t before_s = 60;  // packets from this long before the first alert...
  uint32_t after_s = 30;   // ... to this long after it
  // Recent packets each worker keeps for the look-back (about 2 KiB each):
  // the look-back reaches `before_s` or this many packets, whichever is less.
  uint32_t ring_packets = 16384;
  uint32_t snaplen = 65535;
  uint32_t max_packets = 10000;  // per incident
  uint32_t max_files = 1000;     // incident files this run may write
  uint64_t max_bytes = 1ull << 30;
  bool operator==(const IncidentCaptureConfig&) const = default;
};

struct CaptureConfig {
  std::string write;   // pcapng path (or the rotating set's path); "" = no recording
  std::string filter;  // tcpdump syntax; "" = everything
  uint32_t snaplen = 262144;
  RotationPolicy rotation;
  IncidentCaptureConfig incidents;
  bool operator==(const CaptureConfig&) const = default;
};

}  // namespace harrier
