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

TEST(Config, PortListsAndFractionalParameters) {
  Config c = load_config("");
  apply_config_yaml(
      c,
      "detectors:\n  trojan-port-probe:\n    ports: [\"4444/tcp Metasploit handler\", "
      "\"31337/udp Back Orifice\"]\n  slow-scan:\n    max_rate: 0.5\n",
      "test.yaml");
  const DetectorConfig& t = c.detectors[size_t(find_detector("trojan-port-probe"))];
  const auto* list = t.port_list("ports");
  ASSERT_NE(list, nullptr);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].port, 4444);
  EXPECT_EQ((*list)[0].proto, 6);
  EXPECT_EQ((*list)[0].label, "Metasploit handler");
  EXPECT_EQ((*list)[1].proto, 17);
  EXPECT_DOUBLE_EQ(c.detectors[size_t(find_detector("slow-scan"))].get("max_rate"), 0.5);
  // Unset: the detector's built-in list applies.
  EXPECT_EQ(
      load_config("").detectors[size_t(find_detector("trojan-port-probe"))].port_list("ports"),
      nullptr);
  EXPECT_EQ(error_of("detectors:\n  trojan-port-probe:\n    ports: [\"4444/icmp x\"]\n"),
            "test.yaml:3: detectors.trojan-port-probe.ports[0]: '4444/icmp x' is not "
            "\"PORT/tcp LABEL\" or \"PORT/udp LABEL\"");
  EXPECT_NE(error_of("detectors:\n  trojan-port-probe:\n    ports: [\"70000/tcp x\"]\n")
                .find("ports[0]: '70000/tcp x' is not"),
            std::string::npos);
  EXPECT_NE(error_of("detectors:\n  trojan-port-probe:\n    ports: [\"4444/tcp\"]\n")
                .find("needs a label of 1 to 40 characters"),
            std::string::npos);
  EXPECT_NE(error_of("detectors:\n  trojan-port-probe:\n    ports: 4444\n")
                .find("must be a list of \"PORT/PROTO LABEL\" strings"),
            std::string::npos);
  EXPECT_NE(error_of("detectors:\n  trojan-port-probe:\n    ports: []\n")
                .find("must list 1 to 255 entries, not 0"),
            std::string::npos);
}

TEST(Config, AnswerGraceIsAFlowTableSettingShorterThanEveryTimeout) {
  Config c = load_config("");
  EXPECT_EQ(c.timeouts.answer_grace_ms, 3000u);
  apply_config_yaml(c, "dataplane:\n  flow_table: {answer_grace: 0.5}\n", "test.yaml");
  EXPECT_EQ(c.timeouts.answer_grace_ms, 500u);
  EXPECT_NE(error_of("dataplane:\n  flow_table:\n    answer_grace: 40\n")
                .find("dataplane.flow_table.answer_grace: must be shorter than every flow "
                      "timeout (the shortest is 30 s)"),
            std::string::npos);
  EXPECT_NE(
      error_of("dataplane:\n  flow_table:\n    timeouts: {closed: 2}\n")
          .find("answer_grace: must be shorter than every flow timeout (the shortest is 2 s)"),
      std::string::npos);
  // The detector parameter it replaces says where it went.
  EXPECT_NE(error_of("detectors:\n  horizontal-scan: {answer_grace: 2}\n")
                .find("moved to dataplane.flow_table.answer_grace"),
            std::string::npos);
}

TEST(Config, RedisOutputIsOffUntilItsSectionAndEachMistakeIsNamed) {
  EXPECT_FALSE(load_config("").redis.enabled);
  Config c = load_config("");
  apply_config_yaml(c, "outputs:\n  redis: {socket: /run/r.sock, mode: stream, maxlen: 1000}\n",
                    "test.yaml");
  EXPECT_TRUE(c.redis.enabled);
  EXPECT_EQ(c.redis.mode, RedisOutputConfig::Mode::kStream);
  EXPECT_EQ(c.redis.maxlen, 1000u);
  EXPECT_EQ(c.redis.key, "harrier");
  EXPECT_EQ(c.redis.where(), "unix:/run/r.sock");
  EXPECT_EQ(error_of("outputs:\n  redis: {mode: queue}\n"),
            "test.yaml:2: outputs.redis.mode: 'queue' is not list, channel or stream");
  EXPECT_EQ(error_of("outputs:\n  redis: {maxlen: 10}\n"),
            "test.yaml:2: outputs.redis.maxlen: applies to mode: stream only");
  EXPECT_NE(error_of("outputs:\n  redis: {host: x}\n").find("unknown key (allowed: server, port"),
            std::string::npos);
  EXPECT_NE(error_of("outputs:\n  redis: {port: 70000}\n").find("out of range 1..65535"),
            std::string::npos);
  // Restart-only: a reload that changes it is refused and named.
  Config b = c;
  b.redis.key = "other";
  EXPECT_EQ(restart_only_changes(c, b), std::vector<std::string>{"outputs.redis"});
}

TEST(Config, CorrelationPublishesOnlyWithASensorNameAndEachMistakeIsNamed) {
  EXPECT_FALSE(load_config("").correlation.publishes());
  Config c = load_config("");
  apply_config_yaml(c,
                    "correlation:\n  socket: /run/r.sock\n  password: pw\n  partitions: 8\n"
                    "  sensor: uplink-1\n  sensors: [a, b]\n  lateness: 2.5\n  hold: 60\n",
                    "test.yaml");
  const CorrelationConfig& k = c.correlation;
  EXPECT_TRUE(k.publishes());
  EXPECT_EQ(k.partitions, 8u);
  EXPECT_EQ(k.redis.where(), "unix:/run/r.sock");
  EXPECT_EQ(k.lateness_ns, 2'500'000'000ull);
  EXPECT_EQ(k.hold_ns, 60'000'000'000ull);
  EXPECT_EQ(k.sensors, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(k.stream(3), "harrier:events:{3}");
  EXPECT_EQ(k.lease(3), "harrier:events:{3}:owner");
  EXPECT_EQ(error_of("correlation: {partitions: 0}\n"),
            "test.yaml:1: correlation.partitions: value 0 out of range 1..1024");
  EXPECT_NE(error_of("correlation: {key: 'a{b}'}\n").find("without braces"), std::string::npos);
  EXPECT_NE(error_of("correlation: {user: u}\n").find("correlation.user: needs a password too"),
            std::string::npos);
  EXPECT_NE(error_of("correlation: {sensors: x}\n").find("must be a list of sensor names"),
            std::string::npos);
  EXPECT_NE(error_of("correlation: {lateness: -1}\n").find("correlation.lateness"),
            std::string::npos);
  EXPECT_NE(error_of("correlation: {partition: 4}\n").find("unknown key"), std::string::npos);
  Config b = c;
  b.correlation.hold_ns = 1;
  EXPECT_EQ(restart_only_changes(c, b), std::vector<std::string>{"correlation"});
}
