#include "engine/host_stage.h"

#include <algorithm>

namespace harrier {

bool attach_detectors(const RuntimeSnapshot& snap, bool host_stage, int socket, uint32_t shard,
                      uint32_t n_shards, std::vector<AttachedDetector>& out, std::string* error) {
  for (size_t i = 0; i < snap.detectors.size(); ++i) {
    const Detector* d = snap.detectors[i];
    if (!d) continue;
    // Host-behaviour detectors have a half on each stage: on_packets on the
    // flow shards (raising their events), on_events/on_tick on the host shards.
    const bool is_host = d->descriptor().kind == DetectorKind::kHostBehaviour;
    if (host_stage && !is_host) continue;
    AttachedDetector a;
    a.index = uint16_t(i);
    error->clear();
    a.state = host_stage || !is_host ? d->make_state(socket, shard, n_shards, error)
                                     : d->make_flow_state(socket, shard, error);
    if (!error->empty()) return false;
    out.push_back(std::move(a));
  }
  return true;
}

bool HostStage::init(const RuntimeSnapshot& snap, int socket, uint32_t shard, uint32_t n_shards,
                     uint32_t event_cap, std::string* error) {
  if (!attach_detectors(snap, true, socket, shard, n_shards, detectors_, error)) return false;
  std::fill(std::begin(slot_of_), std::end(slot_of_), int16_t(-1));
  picked_.resize(detectors_.size());
  for (size_t j = 0; j < detectors_.size(); ++j) {
    if (detectors_[j].index < 64) slot_of_[detectors_[j].index] = int16_t(j);
    picked_[j].reserve(event_cap);
  }
  return true;
}

void HostStage::run(const RuntimeSnapshot& snap, ShardCtx& ctx, std::span<const HostEvent> events,
                    uint64_t now) noexcept {
  if (!events.empty()) dispatch(snap, events);
  for (size_t j = 0; j < detectors_.size(); ++j) {
    AttachedDetector& d = detectors_[j];
    if (!snap.runs(d.index)) continue;
    const Detector* det = snap.detectors[d.index];
    if (!events.empty() && !picked_[j].empty())
      det->on_events(ctx, {events, picked_[j]}, d.state.get());
    if (now) det->on_tick(ctx, now, d.state.get());
  }
}

// Sorts the batch's events out to the detectors that asked for them, once:
// a detector event to the detector it is for, an outcome to each detector
// that reads outcomes of its kind.
void HostStage::dispatch(const RuntimeSnapshot& snap, std::span<const HostEvent> events) noexcept {
  uint8_t outcomes[64];
  bool own[64];
  uint32_t readers[64], n_readers = 0;
  for (size_t j = 0; j < detectors_.size(); ++j) {
    picked_[j].clear();
    const bool runs = snap.runs(detectors_[j].index);
    const EventInterest in =
        runs ? snap.detectors[detectors_[j].index]->event_interest() : EventInterest{0, false};
    outcomes[j] = in.outcomes;
    own[j] = in.own;
    if (in.outcomes) readers[n_readers++] = uint32_t(j);
  }
  for (uint32_t i = 0; i < uint32_t(events.size()); ++i) {
    const HostEvent& e = events[i];
    if (e.kind == HostEventKind::kDetector) {
      const int j = e.detector < 64 ? slot_of_[e.detector] : -1;
      if (j >= 0 && own[j]) picked_[size_t(j)].push_back(i);
      continue;
    }
    const uint8_t bit = EventInterest::bit(e.kind);
    for (uint32_t r = 0; r < n_readers; ++r)
      if (outcomes[readers[r]] & bit) picked_[readers[r]].push_back(i);
  }
}

}  // namespace harrier
