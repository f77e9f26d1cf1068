// What a reload may change, what it must refuse, and how the snapshots it
// builds share detectors; the metrics address parser; the alert tail.
#include <gtest/gtest.h>

#include "control/config.h"
#include "control/metrics_server.h"
#include "control/runtime_store.h"
#include "detectors/registry.h"

namespace harrier {
namespace {

Config with(const std::string& yaml) {
  Config c = load_config("");
  if (!yaml.empty()) apply_config_yaml(c, yaml, "test.yaml");
  return c;
}

size_t index_of(std::string_view id) {
  const auto reg = detector_registry();
  for (size_t i = 0; i < reg.size(); ++i)
    if (reg[i]->id == id) return i;
  ADD_FAILURE() << "no detector " << id;
  return 0;
}

TEST(Reload, ThresholdsHomeAndInventoryAreNotRestartOnly) {
  const Config a = with("");
  const Config b = with(R"(
home_networks: [10.9.0.0/16]
detectors:
  horizontal-scan: {fast_hosts: 9, lethality: 5}
  vertical-scan: {enabled: false}
inventory:
  hosts:
    - {address: 10.9.0.1, criticality: 5}
)");
  EXPECT_TRUE(restart_only_changes(a, b).empty());
}

TEST(Reload, RestartOnlyKeysAreNamedWithTheirValues) {
  const Config a = with("");
  const Config b = with(R"(
dataplane: {workers: 7}
outputs: {eve: /tmp/other.json}
control: {socket: /tmp/other.sock}
detectors:
  slow-scan: {table_size: 4096}
)");
  const auto changes = restart_only_changes(a, b);
  auto has = [&](const std::string& text) {
    for (const auto& c : changes)
      if (c.find(text) != std::string::npos) return true;
    return false;
  };
  EXPECT_TRUE(has("dataplane.workers (2 -> 7)"));
  EXPECT_TRUE(has("outputs.eve"));
  EXPECT_TRUE(has("control.socket"));
  EXPECT_TRUE(has("detectors.slow-scan.table_size (32768 -> 4096)"));
  EXPECT_EQ(changes.size(), 4u);
}

TEST(Reload, UnchangedDetectorsAreSharedChangedOnesAreNew) {
  RuntimeStore store(with(""), true);
  const RuntimeSnapshot* first = store.current();
  std::vector<const Detector*> before = first->detectors;
  std::vector<std::string> changes;
  std::string error;
  const RuntimeSnapshot* next = store.prepare(
      with("detectors:\n  horizontal-scan: {fast_hosts: 9}\n  netbios-sweep: {enabled: false}\n"),
      &changes, &error);
  ASSERT_NE(next, nullptr) << error;
  EXPECT_GT(next->generation, first->generation);
  const size_t h = index_of("horizontal-scan"), n = index_of("netbios-sweep");
  for (size_t i = 0; i < before.size(); ++i) {
    if (i == h)
      EXPECT_NE(next->detectors[i], before[i]);  // new settings object
    else
      EXPECT_EQ(next->detectors[i], before[i]);  // shared, state and all
  }
  EXPECT_FALSE(next->runs(n));
  EXPECT_TRUE(next->runs(h));
  EXPECT_EQ(changes, (std::vector<std::string>{"detectors.netbios-sweep: disabled",
                                               "detectors.horizontal-scan.fast_hosts: 3 -> 9"}));
  // The first snapshot lives until no batch can use it.
  EXPECT_EQ(store.generations_held(), 2u);
  store.release_before(next->generation);
  EXPECT_EQ(store.generations_held(), 1u);
}

TEST(Reload, ARefusedReloadChangesNothing) {
  RuntimeStore store(with(""), true);
  const RuntimeSnapshot* first = store.current();
  std::vector<std::string> changes;
  std::string error;
  EXPECT_EQ(store.prepare(with("dataplane: {batch_size: 64}\ndetectors:\n  horizontal-scan: "
                               "{fast_hosts: 9}\n"),
                          &changes, &error),
            nullptr);
  EXPECT_NE(error.find("dataplane.batch_size (256 -> 64)"), std::string::npos) << error;
  EXPECT_NE(error.find("nothing was changed"), std::string::npos);
  EXPECT_EQ(store.current(), first);
  EXPECT_EQ(store.config().detectors[index_of("horizontal-scan")].get("fast_hosts"), 3);
}

TEST(Reload, ReadModeCannotSwitchOnWhatItDidNotBuild) {
  RuntimeStore store(with("detectors:\n  slow-scan: {enabled: false}\n"), false);
  EXPECT_EQ(store.current()->detectors[index_of("slow-scan")], nullptr);
  std::vector<std::string> changes;
  std::string error;
  EXPECT_EQ(store.prepare(with(""), &changes, &error), nullptr);
  EXPECT_NE(error.find("slow-scan"), std::string::npos) << error;
}

TEST(Metrics, ListenAddresses) {
  sockaddr_storage a;
  socklen_t len;
  std::string err;
  EXPECT_TRUE(parse_listen_address("127.0.0.1:9464", &a, &len, &err));
  EXPECT_EQ(a.ss_family, AF_INET);
  EXPECT_TRUE(parse_listen_address("[::1]:9464", &a, &len, &err));
  EXPECT_EQ(a.ss_family, AF_INET6);
  for (const char* bad : {"localhost", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:70000",
                          "::1:9464", "example.com:80", "[::1]:x"})
    EXPECT_FALSE(parse_listen_address(bad, &a, &len, &err)) << bad;
}

TEST(Metrics, ABadAddressInTheConfigNamesTheKey) {
  try {
    with("control: {metrics: 'nowhere'}\n");
    FAIL() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("control.metrics"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace harrier
