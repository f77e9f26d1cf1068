// Compact events that flow shards send to host-behaviour shards. A host
// detector counts targets per source across flows that RSS spread over every
// worker; the event carries just what counting needs, and is routed to the
// host shard that owns its key so each key is counted whole, exactly once.
#pragma once

#include <cstdint>

#include "dataplane/packet.h"

namespace harrier {

enum class HostEventKind : uint8_t {
  kProbe = 0,  // first packet of a flow toward a home host (a connection attempt)
  kAnswered,   // that target answered positively (SYN-ACK, or any reply for UDP)
  kFailed,     // that target refused (RST to the SYN, ICMP unreachable)
};

namespace host_event_flag {
inline constexpr uint8_t kUnexpected = 0x01;  // inventory does not list (dst, proto, dport)
}

struct HostEvent {
  uint64_t ts = 0;
  uint64_t order = 0;  // global packet number: host shards merge on it
  IpAddr src;          // the prober (the flow's initiator)
  IpAddr dst;          // the target
  uint16_t sport = 0, dport = 0;
  uint16_t tcp_flags = 0;
  uint8_t proto = 0;
  HostEventKind kind = HostEventKind::kProbe;
  uint8_t flags = 0;
  uint16_t host_shard = 0;  // which host shard owns this event's key
};

}  // namespace harrier
