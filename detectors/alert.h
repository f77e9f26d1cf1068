// An alert as it leaves a shard: a fixed-size record filled on the packet
// thread (no strings, no allocation) and rendered into words and JSON by the
// detector's renderer on the output thread.
#pragma once

#include <cstdint>

#include "dataplane/packet.h"
#include "detectors/severity.h"

namespace harrier {

enum class TargetOrder : uint8_t { kSingle = 0, kAscending, kDescending, kRandom };
const char* target_order_name(TargetOrder o);

struct Alert {
  static constexpr int kMaxTargets = 16;
  static constexpr int kMaxSeries = 16;

  uint64_t ts = 0;        // packet time (ns) of the packet that completed the detection
  uint64_t order = 0;     // global packet number of that packet: a stable tie-break
  uint64_t first_ts = 0;  // first packet of the incident
  uint64_t last_ts = 0;
  uint16_t detector = 0;  // registry index
  uint8_t update = 0;     // 0: the incident's first alert; n: its n-th update
  uint8_t proto = 0;
  IpAddr src, dst;
  uint16_t sport = 0, dport = 0;
  Score score;

  // Evidence; each detector documents what it puts where (see its renderer).
  uint32_t count[4]{};
  uint32_t n_targets = 0;  // total; at most kMaxTargets are listed
  IpAddr targets[kMaxTargets];
  uint32_t n_series = 0;
  uint32_t series[kMaxSeries]{};
  TargetOrder target_order = TargetOrder::kSingle;
  uint16_t tcp_flags = 0;
  uint8_t ttl = 0;
  uint16_t ip_id = 0;
  uint32_t isn = 0;
  uint32_t extra = 0;  // detector-specific code (e.g. RPC procedure)

  uint32_t capture_id = 0;  // its incident capture (set by the emit stage; 0: none)
};

}  // namespace harrier
