#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "control/config.h"
#include "control/output.h"
#include "control/runtime_store.h"
#include "dataplane/decode.h"
#include "detectors/registry.h"
#include "engine/batch.h"
#include "engine/shard.h"
#include "tests/unit/detector_harness.h"

using namespace harrier;
namespace harness = harrier::testing;

namespace {

// Frames, each in a batch of its own at its packet time (ns), through decode
// and one flow shard (its flow table, then the packet hooks) with only
// `detector` on; that detector's alerts. DetectorHarness cannot drive a
// detector that reads the flow table's SYN history (syn-retry-anomaly): it
// keeps no flow table.
std::vector<Alert> flow_shard_alerts(
    Config cfg, const char* detector,
    const std::vector<std::pair<uint64_t, harness::Bytes>>& frames) {
  const int index = find_detector(detector);
  for (size_t i = 0; i < cfg.detectors.size(); ++i)
    cfg.detectors[i].enabled = int(i) == index;
  RuntimeStore store(cfg, /*all_detectors=*/false);
  FlowShard shard(0, 0, 1);
  std::string err;
  if (!shard.init(1024, cfg.timeouts, *store.current(), &err)) {
    ADD_FAILURE() << err;
    return {};
  }
  std::vector<Alert> out;
  uint64_t order = 0;
  for (const auto& [ts, frame] : frames) {
    uint64_t at = ts;
    PacketView v{};
    uint8_t decoded =
        uint8_t(decode(frame.data(), uint32_t(frame.size()), uint32_t(frame.size()), v));
    uint16_t to_shard = 0;
    HostEvent events[16];
    HostEvent* event_lists[1] = {events};
    uint32_t n_events[1] = {0};
    std::vector<HostEvent> outcomes[1];
    Alert alerts[4];
    Alert* alert_lists[1] = {alerts};
    uint32_t n_alerts[1] = {0};
    std::deque<Alert> spill[1];
    Batch b;
    b.snap = store.current();
    b.first_order = ++order;
    b.n = 1;
    b.ts = b.clock = &at;  // packet time never steps back here: it is the answer clock too
    b.max_ts = b.clock_end = at;
    b.views = &v;
    b.decode_err = &decoded;
    b.flow_shard = &to_shard;
    b.events = event_lists, b.n_events = n_events, b.event_cap = 16;
    b.outcomes = outcomes, b.outcome_limit = UINT32_MAX;
    b.alerts = alert_lists, b.n_alerts = n_alerts, b.alert_cap = 4;
    b.spill = spill, b.spill_limit = SIZE_MAX;
    shard.process(b);
    out.insert(out.end(), alerts, alerts + n_alerts[0]);
    out.insert(out.end(), spill[0].begin(), spill[0].end());
  }
  return out;
}

}  // namespace

TEST(Severity, SeedFormulaAndMapping) {
  Score s{3, 5, 5, 3};
  EXPECT_EQ(s.value(), 0);
  EXPECT_EQ(s.alert_severity(), 3);
  Score portmap{5, 4, 5, 2};
  EXPECT_EQ(portmap.value(), 2);
  EXPECT_EQ(portmap.alert_severity(), 2);
  Score finger{5, 1, 5, 4};
  EXPECT_EQ(finger.value(), -3);
  Score worst{5, 5, 1, 1};
  EXPECT_EQ(worst.value(), 8);
  EXPECT_EQ(worst.alert_severity(), 1);
}

TEST(Render, SynRetryNamesTheSeedShape) {
  // The seed's finger probe: 9 SYNs with one ISN, the gaps doubling from 3 s,
  // then held at 120 s; the last at 2000-07-20 14:43:18.706511.
  const uint64_t gaps_us[] = {2971145,  6001214,  12001701,  24003131,
                              48002033, 95999483, 120004112, 120009759};
  uint64_t ts = 964104198706511000ull;
  for (const uint64_t g : gaps_us)
    ts -= g * 1000;
  const harness::Bytes syn =
      harness::ipv4_frame("131.215.103.94", "172.16.14.1", 6,
                          harness::tcp_segment(1189, 79, tcp_flag::kSyn, {}, 784278959));
  std::vector<std::pair<uint64_t, harness::Bytes>> syns = {{ts, syn}};
  for (const uint64_t g : gaps_us) {
    ts += g * 1000;
    syns.push_back({ts, syn});
  }
  // The ninth SYN alerts (by default the span rule would at the seventh);
  // the inventory gives the finger server the seed's score terms.
  Config cfg = load_config("");
  apply_config_yaml(cfg,
                    "detectors:\n  syn-retry-anomaly: {min_syns: 9, max_span: 600}\n"
                    "inventory:\n  defaults: {criticality: 5, system_cm: 4, network_cm: 5}\n",
                    "test.yaml");
  const std::vector<Alert> alerts = flow_shard_alerts(cfg, "syn-retry-anomaly", syns);
  ASSERT_EQ(alerts.size(), 1u);
  const Alert& a = alerts[0];
  AlertText t;
  detector_registry()[a.detector]->render(a, t);
  EXPECT_NE(t.signature.find("9 SYNs"), std::string::npos) << t.signature;
  EXPECT_NE(t.signature.find("intervals 2.971,6.001,12.001,24.003,48.002,95.999,120.004,120.009 s "
                             "(doubling, then capped at 120 s)"),
            std::string::npos)
      << t.signature;
  const auto j = nlohmann::json::parse(AlertOutput::eve_line(a, t));
  EXPECT_EQ(j["detector"], "syn-retry-anomaly");
  EXPECT_EQ(j["timestamp"], "2000-07-20T14:43:18.706511+0000");
  EXPECT_EQ(j["harrier"]["score"]["value"], -3);
  EXPECT_EQ(j["alert"]["severity"], 3);
  EXPECT_EQ(j["alert"]["signature_id"], 1000004);
  const std::string fast = AlertOutput::fast_line(a, t);
  EXPECT_EQ(fast.rfind("07/20-14:43:18.706511  [**] [1:1000004:1] SYN retried", 0), 0u) << fast;
  EXPECT_NE(fast.find("{TCP} 131.215.103.94:1189 -> 172.16.14.1:79"), std::string::npos) << fast;
}
