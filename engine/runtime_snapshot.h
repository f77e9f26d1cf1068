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
#include <string>
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
  // Which running detector (bit = registry index) wants which packet.
  PacketDispatch dispatch;
  bool runs(size_t i) const { return enabled[i] && detectors[i]; }

  // Main thread, once `detectors` and `enabled` are set.
  bool build_dispatch(std::string* error) {
    dispatch = PacketDispatch{};
    for (size_t i = 0; i < detectors.size(); ++i)
      if (runs(i) && !dispatch.add(uint32_t(i), detectors[i]->packet_interest(), error))
        return false;
    return true;
  }
};

}  // namespace harrier
