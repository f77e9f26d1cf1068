// The host-behaviour half of the detectors, run over a list of host events
// in packet order: attached per-key state, each batch's events sorted out
// once to the detectors that asked for them (EventInterest), then each
// detector's on_events and on_tick. A sensor's host shard runs one over the
// events its flow shards raised; a correlator's partition runs the very
// same over the events of several sensors (control/correlator.h).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "engine/runtime_snapshot.h"
#include "detectors/detector.h"

namespace harrier {

// One detector's state on one shard. Which Detector object (settings) runs
// on it, and whether it runs at all, comes from each batch's snapshot.
struct AttachedDetector {
  uint16_t index = 0;  // registry index
  std::unique_ptr<DetectorState> state;
};

class HostStage {
 public:
  // Main thread: state for every host-behaviour detector `snap` built (the
  // only ones a later snapshot can run), as shard `shard` of `n_shards`.
  bool init(const RuntimeSnapshot& snap, int socket, uint32_t shard, uint32_t n_shards,
            uint32_t event_cap, std::string* error);
  // The events of one batch (packet order), then every detector's tick at
  // `now` (0: no tick; UINT64_MAX: the end of input).
  void run(const RuntimeSnapshot& snap, ShardCtx& ctx, std::span<const HostEvent> events,
           uint64_t now) noexcept;
  const std::vector<AttachedDetector>& attached() const { return detectors_; }

 private:
  void dispatch(const RuntimeSnapshot& snap, std::span<const HostEvent> events) noexcept;

  std::vector<AttachedDetector> detectors_;
  // Each attached detector's events of the batch (indexes into the batch).
  std::vector<std::vector<uint32_t>> picked_;
  int16_t slot_of_[64];  // registry index -> attached detector (-1: none)
};

// State for the detectors `snap` built, for one stage: the host-stage half
// of host-behaviour detectors (host_stage), or the flow stage's detectors
// and the flow-stage half of the host-behaviour ones.
bool attach_detectors(const RuntimeSnapshot& snap, bool host_stage, int socket, uint32_t shard,
                      uint32_t n_shards, std::vector<AttachedDetector>& out, std::string* error);

}  // namespace harrier
