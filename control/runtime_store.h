// Owns the configurations a running harrier has had and the snapshots the
// dataplane reads them through (engine/runtime_snapshot.h). A
// reload or a detector switch is prepared here on the control thread:
// validated against the running configuration, built, and only then
// handed to Pipeline::publish. Nothing is changed by a reload that fails.
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "control/config.h"
#include "engine/runtime_snapshot.h"

namespace harrier {

class RuntimeStore {
 public:
  // `all_detectors`: build every detector, enabled or not, so any can be
  // switched on while running (run); otherwise only the enabled ones (read).
  RuntimeStore(const Config& cfg, bool all_detectors);

  const RuntimeSnapshot* current() const { return gens_.back().snap.get(); }
  const Config& config() const { return *gens_.back().cfg; }

  // A snapshot for `next`, made current here (publish it to the pipeline
  // next), or nullptr and *error when `next` changes something only a
  // restart can (nothing is changed then). *changes lists what differs.
  const RuntimeSnapshot* prepare(const Config& next, std::vector<std::string>* changes,
                                 std::string* error);

  // Frees the configurations of generations before `generation` (no batch
  // uses them any more). Detector objects are kept to the end: per-shard
  // state may hold on to what they made (the SMTP detector's pattern
  // database backs its sessions' stream state).
  void release_before(uint64_t generation);

  size_t generations_held() const { return gens_.size(); }

 private:
  struct Generation {
    std::unique_ptr<Config> cfg;
    std::unique_ptr<RuntimeSnapshot> snap;
  };
  std::deque<Generation> gens_;
  std::vector<std::unique_ptr<Detector>> detectors_;  // every one built, to the end
  uint64_t next_generation_ = 1;
};

}  // namespace harrier
