// What a correlator does with an entry's events, any bytes: decode them
// (detectors/host_event_wire.h), order them by packet time as the
// correlator's heap does, and hand them to every host-behaviour detector of
// the default configuration (engine/host_stage.h), then tick. Whoever can
// write to the streams chooses every field, including each detector's
// detail struct, which the detectors read back as their own. The stage and
// its tables live across inputs, as a partition's do across entries.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

#include "control/config.h"
#include "control/runtime_store.h"
#include "detectors/host_event_wire.h"
#include "detectors/registry.h"
#include "engine/host_stage.h"
#include "fuzz_eal.h"

namespace {
using namespace harrier;

struct Rig {
  Config cfg;
  std::unique_ptr<RuntimeStore> store;
  HostStage stage;
  std::vector<Alert> slots = std::vector<Alert>(32);
  std::deque<Alert> spill;
  std::vector<HostEvent> events;
  uint64_t clock = 0;  // ticks never step back, as in the correlator
};

Rig* rig() {
  static Rig* r = [] {
    fuzz_eal_start();
    std::string err;
    auto* x = new Rig();
    x->cfg = load_config("");
    x->store = std::make_unique<RuntimeStore>(x->cfg, false);
    if (!x->stage.init(*x->store->current(), 0, 0, 1, 4096, &err)) __builtin_trap();
    return x;
  }();
  return r;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Rig& r = *rig();
  r.events.clear();
  std::string error;
  if (!decode_wire_events(std::string_view(reinterpret_cast<const char*>(data), size),
                          uint16_t(detector_registry().size()), r.events, &error))
    return 0;
  std::stable_sort(r.events.begin(), r.events.end(),
                   [](const HostEvent& a, const HostEvent& b) { return a.ts < b.ts; });
  for (uint32_t i = 0; i < r.events.size(); ++i)
    r.events[i].seq = i;
  for (const HostEvent& e : r.events)
    r.clock = std::max(r.clock, e.ts);
  AlertSink sink(r.slots.data(), uint32_t(r.slots.size()), &r.spill, SIZE_MAX);
  ShardCtx ctx{0, 0, r.store->current()->rt, &sink};
  r.stage.run(*r.store->current(), ctx, {r.events.data(), r.events.size()},
              r.clock == UINT64_MAX ? r.clock - 1 : std::max<uint64_t>(r.clock, 1));
  // Render what was raised: the renderers read the detail back too.
  for (uint32_t i = 0; i < sink.in_slots(); ++i) {
    AlertText t;
    detector_registry()[r.slots[i].detector]->render(r.slots[i], t);
  }
  for (const Alert& a : r.spill) {
    AlertText t;
    detector_registry()[a.detector]->render(a, t);
  }
  r.spill.clear();
  return 0;
}
