// Compact events that flow shards send to host-behaviour shards. A host
// detector counts per source (or per victim) across flows that RSS spread
// over every worker; the event carries just what counting needs and goes to
// the host shard that owns its key, so each key is counted whole, exactly
// once, in packet order, whatever the worker count.
//
// Two families share the record:
//  - connection outcomes (kUnanswered/kRefused/kOpen), raised by the flow
//    shard itself once an attempt toward a home host has had `answer_grace`
//    to be answered, keyed by the prober; any host detector may count them.
//    An attempt that became a conversation (answered, and data flowed)
//    raises nothing: ordinary traffic costs the host stage nothing.
//    Outcomes carry the attempt's packet time and number, and reach the host
//    shards after the batch's other events, in attempt order;
//  - detector events (kDetector), raised by one host detector's flow-stage
//    half (its on_packets) for its own host-stage half; `detector` names it
//    and `code`/`detail` carry what it parsed.
#pragma once

#include <cstdint>

#include "dataplane/packet.h"
#include "detectors/detail.h"

namespace harrier {

enum class HostEventKind : uint8_t {
  kUnanswered = 0,  // an attempt the target did not answer within the grace
  kRefused,         // an attempt the target refused (RST, ICMP unreachable)
  kOpen,            // TCP: the target accepted, and no data flowed within the grace (a
                    // scan's open port: SYN-ACK then RST, or a handshake closed unused)
  kDetector,        // a detector's own event (see `detector`)
};

namespace host_event_flag {
inline constexpr uint8_t kUnexpected = 0x01;  // inventory does not list (dst, proto, dport)
inline constexpr uint8_t kSrcHome = 0x02;     // the source is a home address
}  // namespace host_event_flag

struct HostEvent {
  uint64_t ts = 0;
  uint64_t order = 0;  // global packet number: host shards merge on it
  IpAddr src;          // the prober (the flow's initiator)
  IpAddr dst;          // the target
  uint16_t sport = 0, dport = 0;
  uint16_t tcp_flags = 0;
  uint8_t proto = 0;
  HostEventKind kind = HostEventKind::kDetector;
  uint8_t flags = 0;
  uint8_t code = 0;  // kDetector: what happened, in the detector's own terms
  uint8_t ttl = 0;
  uint16_t key_slot = 0;  // hash slot of the event's key: its owner is slot_owner(key_slot, n)
  uint16_t detector = 0;  // kDetector: registry index of the detector it is for
  uint16_t ip_id = 0;
  uint32_t seq = 0;        // emission number within the batch: ties on `order` keep it
  TypedDetail<32> detail;  // kDetector: what the detector's flow-stage half parsed, its own struct
};

// At most this many detector events per packet and detector (the rest are
// counted as capped); with one connection event and an ICMP error event per
// packet this bounds a batch's events (see the pipeline's event_cap).
inline constexpr uint32_t kMaxDetectorEventsPerPacket = 8;

// Which host shard owns events keyed by `key`.
uint16_t host_shard_of(const IpAddr& key, uint32_t n_host_shards) noexcept;

// Events are owned through a 16-bit slot of their key's hash, so one rule
// picks both a sensor's host shard and a correlation partition
// (slot_owner(slot, P)): with as many host shards as partitions, each
// partition holds exactly what one host shard counts.
inline uint16_t key_slot_of(const IpAddr& key) noexcept {
  return host_shard_of(key, 65536);
}
inline uint32_t slot_owner(uint16_t slot, uint32_t n) noexcept {
  return (uint32_t(slot) * n) >> 16;
}

// Where a flow shard's events for the current batch go. Fixed capacity: what
// does not fit is counted, never allocated. (Connection outcomes go to a
// list of their own: see Batch::outcomes.)
class EventSink {
 public:
  EventSink(HostEvent* slots, uint32_t* n, uint32_t cap) : slots_(slots), n_(n), cap_(cap) {}
  // Sends `e` to whoever owns `key` (its key_slot) (normally e.src or e.dst).
  void emit(HostEvent& e, const IpAddr& key) noexcept {
    // One packet may say a few things to one detector, never a flood: a
    // segment of 100 pipelined SMTP commands must not crowd out the batch's
    // other events. A detector emits a packet's events back to back.
    if (e.kind == HostEventKind::kDetector) {
      if (e.order == run_order_ && e.detector == run_detector_) {
        if (++run_ > kMaxDetectorEventsPerPacket) {
          ++capped_;
          return;
        }
      } else {
        run_order_ = e.order, run_detector_ = e.detector, run_ = 1;
      }
    }
    if (*n_ == cap_) {
      ++dropped_;
      return;
    }
    e.key_slot = key_slot_of(key);
    e.seq = *n_;
    slots_[(*n_)++] = e;
    ++emitted_;
  }
  uint64_t emitted() const { return emitted_; }
  uint64_t dropped() const { return dropped_; }
  uint64_t capped() const { return capped_; }

 private:
  uint64_t run_order_ = UINT64_MAX;
  uint16_t run_detector_ = 0;
  uint32_t run_ = 0;
  uint64_t capped_ = 0;
  HostEvent* slots_;
  uint32_t* n_;
  uint32_t cap_;
  uint64_t emitted_ = 0;
  uint64_t dropped_ = 0;
};

}  // namespace harrier
