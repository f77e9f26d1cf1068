#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "control/output.h"
#include "dataplane/prefix.h"
#include "detectors/registry.h"

using namespace harrier;

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
  Alert a;
  a.detector = uint16_t(find_detector("syn-retry-anomaly"));
  a.ts = 964104198706511000ull;
  a.proto = 6;
  a.src = *parse_ip("131.215.103.94");
  a.dst = *parse_ip("172.16.14.1");
  a.sport = 1189, a.dport = 79;
  a.count[0] = 9, a.count[1] = 428993;
  const uint32_t gaps[] = {2971, 6001, 12001, 24003, 48002, 95999, 120004, 120009};
  a.n_series = 8;
  std::copy(gaps, gaps + 8, a.series);
  a.score = Score{5, 1, 5, 4};
  AlertText t;
  detector_registry()[a.detector]->render(a, t);
  EXPECT_NE(t.signature.find("9 SYNs"), std::string::npos) << t.signature;
  EXPECT_NE(t.signature.find("doubling, then capped at 120 s"), std::string::npos) << t.signature;
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
