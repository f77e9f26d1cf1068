// An alert as it leaves a shard: a fixed-size record filled on the packet
// thread (no strings, no allocation) and rendered into words and JSON by the
// detector's renderer on the output thread.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "dataplane/packet.h"
#include "detectors/detail.h"
#include "detectors/severity.h"

namespace harrier {

enum class TargetOrder : uint8_t { kSingle = 0, kAscending, kDescending, kRandom };
const char* target_order_name(TargetOrder o);

// What the output thread does with a record (set by the fusion stage,
// incident_fusion.h).
enum class AlertDisposition : uint8_t {
  kAlert = 0,  // an incident's alert: written everywhere
  kFolded,     // a detector's alert folded into another's incident: evidence only
  kClosed,     // the incident is over: its folded evidence may be forgotten
};

struct Alert {
  static constexpr int kMaxTargets = 16;

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

  // Evidence every detector means the same by; the rest is its own (detail).
  uint32_t n_targets = 0;  // total; at most kMaxTargets are listed
  IpAddr targets[kMaxTargets];
  TargetOrder target_order = TargetOrder::kSingle;
  uint16_t tcp_flags = 0;  // TCP flags of the probe (or the union of the probes)
  uint8_t ttl = 0;
  uint16_t ip_id = 0;
  uint32_t isn = 0;  // a TCP initial sequence number

  // The detector's own evidence (its renderer reads it back): a struct of
  // its own, trivially copyable, at most 128 bytes.
  TypedDetail<128> detail;

  // The detector's own incident, equal on its first alert and every update
  // (set_incident_key); 0: every alert is an incident of its own.
  uint64_t incident_key = 0;
  // A lone probe of a special port without protocol content (a SYN, an
  // empty datagram): part of a scan when its source is scanning.
  bool bare_probe = false;

  uint32_t capture_id = 0;  // its incident capture (set by the emit stage; 0: none)

  // Set by the fusion stage: the incident this record belongs to (all the
  // detectors that saw one activity of one source), and what it folds.
  AlertDisposition disposition = AlertDisposition::kAlert;
  uint64_t incident_id = 0;
  uint64_t folded_detectors = 0;  // registry bits of the detectors folded in so far
  uint32_t folded_alerts = 0;     // their alerts folded in so far
};

}  // namespace harrier
