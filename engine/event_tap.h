// The one interface through which the engine hands its host events out of
// the process: the emit stage (one thread, input order) passes each batch's
// events to it, for correlation across sensors (control/event_publisher.h).
// The host shards have counted them already; the tap only copies.
#pragma once

#include <cstdint>
#include <vector>

#include "detectors/host_event.h"

namespace harrier {

// One batch's host events: each flow shard's detector and ICMP events
// (packet order within a list), then its connection outcomes that came due.
struct EventTapBatch {
  const HostEvent* const* events = nullptr;          // [n_lists]
  const uint32_t* n_events = nullptr;                // [n_lists]
  const std::vector<HostEvent>* outcomes = nullptr;  // [n_lists]
  uint32_t n_lists = 0;
  uint64_t max_ts = 0;  // the batch's latest packet time (or heartbeat time)
  bool end_of_input = false;
};

class EventTap {
 public:
  virtual ~EventTap() = default;
  // Emit stage. Must not block live; offline it may wait for room.
  virtual void on_batch(const EventTapBatch& b) noexcept = 0;
};

}  // namespace harrier
