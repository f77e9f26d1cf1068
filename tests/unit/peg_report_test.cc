// Counter tables (pegs): a detector's rows as its states count them, and
// the three ways they are shown.
#include <gtest/gtest.h>

#include <string>

#include "control/peg_report.h"
#include "tests/unit/detector_harness.h"

namespace harrier::testing {
namespace {

TEST(Pegs, AKitDetectorCountsItsTableAndEvictions) {
  DetectorHarness h("horizontal-scan", "{table_size: 1024}");  // 1,024 over one shard
  std::vector<HostEvent> evs;
  for (int i = 0; i < 1100; ++i)  // one port per source: 1,100 keys
    evs.push_back(outcome(
        HostEventKind::kUnanswered,
        ("192.0." + std::to_string(2 + i / 250) + "." + std::to_string(i % 250 + 1)).c_str(),
        "10.0.0.1", 6, 445, 0.001 * i));
  h.events(evs);
  const PegValues v = h.pegs();
  auto at = [&](std::string_view name) {
    for (size_t i = 0; i < v.info.size(); ++i)
      if (v.info[i].name == name) return v.values[i];
    ADD_FAILURE() << "no counter " << name;
    return uint64_t(0);
  };
  EXPECT_EQ(at("table_capacity"), 1024u);
  EXPECT_EQ(at("table_entries"), 1024u);
  EXPECT_EQ(at("table_evictions"), 1100u - 1024u);
  EXPECT_EQ(at("settle_overflow"), 0u);
}

TEST(Pegs, JsonPrometheusAndLinesShowTheSameRows) {
  static constexpr PegInfo kRows[] = {{"sessions", PegKind::kSum, "sessions seen"},
                                      {"entries", PegKind::kNow, "entries now"}};
  const std::vector<PegValues> t = {{"a-det", kRows, {3, 0}}, {"b-det", kRows, {0, 7}}};
  const auto j = pegs_json(t);
  EXPECT_EQ(j["a-det"]["sessions"], 3u);
  EXPECT_EQ(j["b-det"]["entries"], 7u);
  const std::string prom = pegs_prometheus(t, "harrier_detector", "detector");
  EXPECT_NE(prom.find("# TYPE harrier_detector_sessions_total counter\n"
                      "harrier_detector_sessions_total{detector=\"a-det\"} 3\n"
                      "harrier_detector_sessions_total{detector=\"b-det\"} 0\n"),
            std::string::npos)
      << prom;
  EXPECT_NE(prom.find("# TYPE harrier_detector_entries gauge\n"), std::string::npos) << prom;
  // The report names only what counted something (levels are for stats).
  EXPECT_EQ(pegs_lines(t), (std::vector<std::string>{"a-det: sessions 3"}));
}

}  // namespace
}  // namespace harrier::testing
