#include <gtest/gtest.h>

#include "control/config.h"
#include "detectors/registry.h"

using namespace harrier;

namespace {
std::string error_of(const std::string& yaml) {
  Config c = load_config("");
  try {
    apply_config_yaml(c, yaml, "test.yaml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Config, EmbeddedDefaultLoadsAndCoversEveryDetector) {
  Config c = load_config("");
  EXPECT_EQ(c.detectors.size(), detector_registry().size());
  EXPECT_TRUE(c.home.contains(*parse_ip("172.16.14.1")));
  EXPECT_FALSE(c.home.contains(*parse_ip("8.8.8.8")));
  EXPECT_EQ(c.detectors[size_t(find_detector("horizontal-scan"))].get("fast_hosts"), 3);
}

TEST(Config, ErrorsNameFileLineKeyValueAndRange) {
  EXPECT_EQ(error_of("dataplane:\n  workers: 99\n"),
            "test.yaml:2: dataplane.workers: value 99 out of range 1..64");
  EXPECT_EQ(error_of("detectors:\n  syn-retry-anomaly:\n    min_syns: 1\n"),
            "test.yaml:3: detectors.syn-retry-anomaly.min_syns: value 1 out of range 2..1000");
  EXPECT_NE(error_of("detectors:\n  syn-retry-anomaly:\n    min_synz: 9\n")
                .find("unknown parameter (allowed: enabled, lethality, min_syns, max_span)"),
            std::string::npos);
  EXPECT_NE(error_of("outputz: {}\n").find("test.yaml:1: outputz: unknown key"), std::string::npos);
  EXPECT_NE(error_of("detectors:\n  horizontal-scan: {lethality: 6}\n")
                .find("lethality: value 6 out of range 1..5"),
            std::string::npos);
  EXPECT_NE(error_of("dataplane: {workers: two}\n").find("'two' is not a number"),
            std::string::npos);
}

TEST(Config, InventoryDrivesServicesAndScoreTerms) {
  Config c = load_config("");
  apply_config_yaml(c, R"(
inventory:
  defaults: {criticality: 2, system_cm: 2, network_cm: 1}
  hosts:
    - {address: 172.16.14.0/24, criticality: 3, network_cm: 5}
    - address: 172.16.14.1
      criticality: 5
      system_cm: 2
      services: [tcp/25, udp/53, tcp/6000-6010]
      network_cm: {default: 5, tcp/25: 1}
)",
                    "inv.yaml");
  const IpAddr h = *parse_ip("172.16.14.1"), other = *parse_ip("172.16.14.9"),
               out = *parse_ip("10.1.1.1");
  EXPECT_TRUE(c.inventory.serves(h, 6, 25));
  EXPECT_TRUE(c.inventory.serves(h, 6, 6005));
  EXPECT_FALSE(c.inventory.serves(h, 17, 25));
  ScoreTerms t = c.inventory.terms(h, 6, 25);
  EXPECT_EQ(t.criticality, 5);
  EXPECT_EQ(t.system_cm, 2);
  EXPECT_EQ(t.network_cm, 1);
  t = c.inventory.terms(h, 17, 111);
  EXPECT_EQ(t.network_cm, 5);
  t = c.inventory.terms(other, 6, 79);  // subnet entry, system_cm from defaults
  EXPECT_EQ(t.criticality, 3);
  EXPECT_EQ(t.system_cm, 2);
  EXPECT_EQ(t.network_cm, 5);
  t = c.inventory.terms(out, 6, 79);
  EXPECT_EQ(t.criticality, 2);
  EXPECT_EQ(t.network_cm, 1);
}
