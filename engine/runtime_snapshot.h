// The part of the configuration that a reload may change while packets
// flow: home networks, inventory, and each detector's settings and on/off
// switch. The rx stage stamps every batch with the snapshot current when it
// was filled, and every stage of that batch uses that one, so a batch never
// sees half of a reload. A snapshot (and what it points to) must outlive
// every batch stamped with it: the pipeline reports which generation its
// last emitted batch carried, and since batches leave emit in order, older
// snapshots are then unused.
#pragma once

#include <cstdint>
#include <vector>

#include "detectors/detector.h"

namespace harrier {

struct RuntimeSnapshot {
  uint64_t generation = 0;
  RuntimeView rt;
  // Registry order. Null: not built (harrier read builds only the enabled
  // ones); a built detector keeps its per-shard state across snapshots.
  std::vector<const Detector*> detectors;
  std::vector<uint8_t> enabled;
  bool runs(size_t i) const { return enabled[i] && detectors[i]; }
};

}  // namespace harrier
