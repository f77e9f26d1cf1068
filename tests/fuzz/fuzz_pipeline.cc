// A short burst of frames, any bytes, through what a packet meets after the
// NIC: decode, one flow shard (flow table, connection outcomes, every
// detector's packet hook) and one host shard (every host detector's events
// and ticks), with every detector of the default configuration on. The
// input is a list of records: u16 length, u16 microseconds since the last
// frame, then the frame. Shards and their tables live across inputs, as
// they do across batches in a run (tables fill, evict and expire).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

#include "control/config.h"
#include "control/runtime_store.h"
#include "dataplane/decode.h"
#include "engine/batch.h"
#include "engine/shard.h"
#include "fuzz_eal.h"

namespace {
using namespace harrier;

constexpr uint32_t kBurst = 64;

struct Rig {
  Config cfg;
  std::unique_ptr<RuntimeStore> store;
  std::unique_ptr<FlowShard> flow;
  std::unique_ptr<HostShard> host;
  // One batch's arrays.
  std::vector<uint64_t> ts = std::vector<uint64_t>(kBurst);
  // The answer clock (Batch::clock): packet time here never steps back, so
  // it is packet time itself.
  std::vector<uint64_t> answer_clock = std::vector<uint64_t>(kBurst);
  std::vector<PacketView> views = std::vector<PacketView>(kBurst);
  std::vector<uint8_t> err = std::vector<uint8_t>(kBurst);
  std::vector<uint16_t> shard = std::vector<uint16_t>(kBurst);
  std::vector<std::vector<uint8_t>> frames;
  uint32_t event_cap = kBurst * (2 + kMaxDetectorEventsPerPacket);
  std::vector<HostEvent> events = std::vector<HostEvent>(event_cap);
  HostEvent* event_lists[1] = {nullptr};
  uint32_t n_events[1] = {0};
  std::vector<HostEvent> outcomes[1];
  std::vector<Alert> alerts[2] = {std::vector<Alert>(32), std::vector<Alert>(32)};
  Alert* alert_lists[2] = {nullptr, nullptr};
  uint32_t n_alerts[2] = {0, 0};
  std::deque<Alert> spill[2];
  uint64_t clock = 1'700'000'000'000'000'000ull;
  uint64_t order = 0;
};

Rig* rig() {
  static Rig* r = [] {
    fuzz_eal_start();
    std::string err;
    auto* x = new Rig();
    x->cfg = load_config("");
    // Small tables: they fill, evict and expire within a fuzzing session.
    apply_config_yaml(x->cfg, "dataplane: {flow_table: {answer_grace: 0.05}}\n", "fuzz");
    x->store = std::make_unique<RuntimeStore>(x->cfg, false);
    x->flow = std::make_unique<FlowShard>(0, 0, kBurst);
    x->host = std::make_unique<HostShard>(0, 1, 0, x->event_cap, 50'000'000ull);
    FlowTimeouts t = x->cfg.timeouts;
    if (!x->flow->init(4096, t, *x->store->current(), &err) ||
        !x->host->init(*x->store->current(), &err))
      __builtin_trap();
    x->event_lists[0] = x->events.data();
    x->alert_lists[0] = x->alerts[0].data();
    x->alert_lists[1] = x->alerts[1].data();
    return x;
  }();
  return r;
}

void run_batch(Rig& r, uint32_t n, bool end) {
  Batch b;
  b.snap = r.store->current();
  b.first_order = r.order;
  r.order += n;
  b.n = n;
  b.end_of_input = end;
  b.ts = r.ts.data();
  b.clock = r.answer_clock.data();
  b.views = r.views.data();
  b.decode_err = r.err.data();
  b.flow_shard = r.shard.data();
  b.events = r.event_lists;
  b.n_events = r.n_events;
  b.event_cap = r.event_cap;
  b.outcomes = r.outcomes;
  b.outcome_limit = UINT32_MAX;
  b.alerts = r.alert_lists;
  b.n_alerts = r.n_alerts;
  b.alert_cap = 32;
  b.spill = r.spill;
  b.spill_limit = SIZE_MAX;
  b.max_ts = 0;
  for (uint32_t i = 0; i < n; ++i)
    b.max_ts = std::max(b.max_ts, r.ts[i]);
  if (end) b.max_ts = r.clock;
  for (uint32_t i = 0; i < n; ++i)
    r.answer_clock[i] = r.ts[i];
  b.clock_end = b.max_ts;
  r.flow->process(b);
  r.host->process(b);
  r.spill[0].clear();
  r.spill[1].clear();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Rig& r = *rig();
  r.frames.clear();
  uint32_t n = 0;
  size_t at = 0;
  while (n < kBurst && at + 4 <= size) {
    const uint32_t len = uint32_t(data[at]) << 8 | data[at + 1];
    const uint32_t dt_us = uint32_t(data[at + 2]) << 8 | data[at + 3];
    at += 4;
    const uint32_t take = uint32_t(std::min<size_t>(len, size - at));
    // A copy of its own, exactly as long as the frame: ASan sees any read past it.
    r.frames.emplace_back(data + at, data + at + take);
    at += take;
    r.clock += uint64_t(dt_us) * 1000;
    r.ts[n] = r.clock;
    r.shard[n] = 0;
    ++n;
  }
  for (uint32_t i = 0; i < n; ++i) {
    const std::vector<uint8_t>& f = r.frames[i];
    r.err[i] = uint8_t(decode(f.data(), uint32_t(f.size()), uint32_t(f.size()), r.views[i]));
  }
  run_batch(r, n, false);
  // Now and then the end of input: every deadline and outcome comes due.
  if (size % 16 == 0) run_batch(r, 0, true);
  return 0;
}
