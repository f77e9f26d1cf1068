// Detectors on their own, through DetectorHarness: each one's thresholds,
// windows, fold-in flags and must-not-fire rules, in milliseconds.
#include <gtest/gtest.h>

#include <string>

#include "tests/unit/detector_harness.h"

namespace harrier::testing {
namespace {

constexpr auto kUnanswered = HostEventKind::kUnanswered;
constexpr auto kRefused = HostEventKind::kRefused;
constexpr auto kOpen = HostEventKind::kOpen;

TEST(HorizontalScan, ThreeHostsWithinTwoSecondsAlertTwoDoNot) {
  DetectorHarness two("horizontal-scan");
  two.events({outcome(kUnanswered, "192.0.2.1", "10.0.0.1", 6, 445, 0.0),
              outcome(kRefused, "192.0.2.1", "10.0.0.2", 6, 445, 0.5)});
  two.end();
  EXPECT_TRUE(two.alerts().empty());

  DetectorHarness three("horizontal-scan");
  three.events({outcome(kUnanswered, "192.0.2.1", "10.0.0.1", 6, 445, 0.0),
                outcome(kRefused, "192.0.2.1", "10.0.0.2", 6, 445, 0.5),
                outcome(kUnanswered, "192.0.2.1", "10.0.0.3", 6, 445, 1.9)});
  three.end();
  ASSERT_EQ(three.alerts().size(), 1u);
  EXPECT_EQ(three.evidence(three.alerts()[0])["hosts"], 3u);
  EXPECT_EQ(three.evidence(three.alerts()[0])["refused"], 1u);
  EXPECT_EQ(three.evidence(three.alerts()[0])["threshold"], "fast");
  EXPECT_NE(three.alerts()[0].incident_key, 0u);
}

TEST(HorizontalScan, ServedPortsLeftUnansweredAreNotTargets) {
  DetectorHarness h("horizontal-scan");
  h.events({outcome(kUnanswered, "192.0.2.1", "10.0.0.1", 6, 443, 0.0, /*unexpected=*/false),
            outcome(kUnanswered, "192.0.2.1", "10.0.0.2", 6, 443, 0.1, false),
            outcome(kUnanswered, "192.0.2.1", "10.0.0.3", 6, 443, 0.2, false)});
  h.end();
  EXPECT_TRUE(h.alerts().empty());
}

TEST(HorizontalScan, ASweepEndsWithItsWholeCountWhateverItsUpdates) {
  DetectorHarness h("horizontal-scan", "{max_updates: 2}");
  std::vector<HostEvent> evs;
  for (int i = 0; i < 500; ++i)
    evs.push_back(
        outcome(kUnanswered, "192.0.2.1",
                ("10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1)).c_str(), 6,
                23, 0.5 * i));
  h.events(evs);
  h.end();
  ASSERT_FALSE(h.alerts().empty());
  EXPECT_LE(h.alerts().size(), 3u);  // first + max_updates
  EXPECT_EQ(h.evidence(h.alerts().back())["hosts"], 500u);
  EXPECT_EQ(h.evidence(h.alerts().back())["threshold"], "fast");  // what raised it, on every update
}

TEST(VerticalScan, TwentyClosedPortsInFiveSecondsAlertOpenOnesDoNotCount) {
  DetectorHarness h("vertical-scan");
  std::vector<HostEvent> evs;
  for (int p = 1; p <= 19; ++p)
    evs.push_back(outcome(kRefused, "192.0.2.9", "10.0.0.5", 6, uint16_t(p), 0.1 * p));
  for (int p = 100; p < 110; ++p)  // open ports: listed, not counted
    evs.push_back(outcome(kOpen, "192.0.2.9", "10.0.0.5", 6, uint16_t(p), 2.0 + 0.01 * p));
  h.events(evs);
  EXPECT_TRUE(h.alerts().empty());
  h.events({outcome(kUnanswered, "192.0.2.9", "10.0.0.5", 6, 20, 4.0)});
  ASSERT_EQ(h.alerts().size(), 1u);
}

TEST(VerticalScan, OneClientToOnePortManyTimesIsOnePort) {
  DetectorHarness h("vertical-scan");
  std::vector<HostEvent> evs;
  for (int i = 0; i < 50; ++i)
    evs.push_back(outcome(kRefused, "192.0.2.9", "10.0.0.5", 6, 8080, 0.05 * i));
  h.events(evs);
  h.end();
  EXPECT_TRUE(h.alerts().empty());
}

// rst-backscatter through its flow-stage half: an RST that opens its flow.
Bytes rst_from(const char* src, uint16_t sport, const char* victim) {
  return ipv4_frame(src, victim, 6, tcp_segment(sport, 40000, tcp_flag::kRst | tcp_flag::kAck));
}

TEST(RstBackscatter, FourServersServicePortsWithinMinutesAreTheSpreadRule) {
  DetectorHarness h("rst-backscatter");
  const char* servers[] = {"198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4"};
  const uint16_t ports[] = {80, 443, 25, 80};
  for (int i = 0; i < 3; ++i)
    h.packet(rst_from(servers[i], ports[i], "10.0.0.9"), 600 + 30 * i);
  EXPECT_TRUE(h.alerts().empty());
  h.packet(rst_from(servers[3], ports[3], "10.0.0.9"), 700);
  ASSERT_EQ(h.alerts().size(), 1u);
  EXPECT_EQ(h.evidence(h.alerts()[0])["rule"], "spread");
  EXPECT_EQ(h.alerts()[0].dst, ip("10.0.0.9"));
}

TEST(RstBackscatter, ClosingResetsAtASensorsStartDoNotCountTowardSpread) {
  DetectorHarness h("rst-backscatter");
  h.packet(rst_from("198.51.100.1", 443, "10.0.0.9"), 1);
  h.packet(rst_from("198.51.100.2", 80, "10.0.0.9"), 5);
  h.packet(rst_from("198.51.100.3", 443, "10.0.0.9"), 20);
  h.packet(rst_from("198.51.100.4", 25, "10.0.0.9"), 200);
  h.end();
  EXPECT_TRUE(h.alerts().empty());
  DetectorHarness no_grace("rst-backscatter", "{startup_grace: 0}");
  no_grace.packet(rst_from("198.51.100.1", 443, "10.0.0.9"), 1);
  no_grace.packet(rst_from("198.51.100.2", 80, "10.0.0.9"), 5);
  no_grace.packet(rst_from("198.51.100.3", 443, "10.0.0.9"), 20);
  no_grace.packet(rst_from("198.51.100.4", 25, "10.0.0.9"), 200);
  EXPECT_EQ(no_grace.alerts().size(), 1u);
}

TEST(RstBackscatter, AResetOfAFlowAlreadySeenIsNotUnsolicited) {
  DetectorHarness h("rst-backscatter", "{startup_grace: 0}");
  for (int i = 0; i < 6; ++i)
    h.packet(rst_from(("198.51.100." + std::to_string(i + 1)).c_str(), 443, "10.0.0.9"), 100 + i,
             {.from_initiator = false, .flow_created = false});
  h.end();
  EXPECT_TRUE(h.alerts().empty());
}

TEST(PortmapProbe, ALoneEmptyProbeIsBareASweepIsOneIncidentThatIsNot) {
  DetectorHarness h("portmap-probe");
  h.packet(ipv4_frame("203.0.113.5", "10.0.0.1", 6, tcp_segment(900, 111, tcp_flag::kSyn)), 0);
  ASSERT_EQ(h.alerts().size(), 1u);
  EXPECT_TRUE(h.alerts()[0].bare_probe);
  for (int i = 2; i <= 40; ++i)
    h.packet(ipv4_frame("203.0.113.5", ("10.0.0." + std::to_string(i)).c_str(), 6,
                        tcp_segment(900, 111, tcp_flag::kSyn)),
             0.1 * i);
  h.tick(30);  // quiet: the closing update with the whole sweep
  const Alert& last = h.alerts().back();
  EXPECT_EQ(last.n_targets, 40u);
  EXPECT_FALSE(last.bare_probe);
  EXPECT_EQ(last.incident_key, h.alerts()[0].incident_key);  // one incident
  EXPECT_LE(h.alerts().size(), 5u);
}

TEST(PortmapProbe, AHomeClientOfAServedPortmapperIsQuiet) {
  DetectorHarness h("portmap-probe");
  h.config().inventory = Inventory();
  DetectorHarness inside("portmap-probe");
  inside.packet(ipv4_frame("10.0.0.7", "10.0.0.1", 17, udp_datagram(800, 111)), 0);
  EXPECT_EQ(inside.alerts().size(), 1u);  // not served per the inventory: a probe from inside
  h.packet(ipv4_frame("10.0.0.1", "192.0.2.10", 17, udp_datagram(800, 111)), 0);
  EXPECT_TRUE(h.alerts().empty());  // outbound: not toward a home host
}

TEST(TrojanPortProbe, AnEmptySynIsBareAPayloadOrASweepIsNot) {
  DetectorHarness syn("trojan-port-probe");
  syn.packet(ipv4_frame("203.0.113.9", "10.0.0.1", 6, tcp_segment(4000, 12345, tcp_flag::kSyn)), 0);
  ASSERT_EQ(syn.alerts().size(), 1u);
  EXPECT_TRUE(syn.alerts()[0].bare_probe);
  DetectorHarness udp("trojan-port-probe");
  udp.packet(ipv4_frame("203.0.113.9", "10.0.0.1", 17, udp_datagram(3272, 12345, {'G', 'e', 't'})),
             0);
  ASSERT_EQ(udp.alerts().size(), 1u);
  EXPECT_FALSE(udp.alerts()[0].bare_probe);
  // A home client's own connection whose ephemeral port is 12345: its replies
  // arrive mid-flow, never opening a conversation.
  DetectorHarness reply("trojan-port-probe");
  reply.packet(ipv4_frame("192.0.2.80", "10.0.0.1", 6,
                          tcp_segment(80, 12345, tcp_flag::kSyn | tcp_flag::kAck)),
               0, {.from_initiator = false, .flow_created = false});
  EXPECT_TRUE(reply.alerts().empty());
}

TEST(FlagAnomaly, SynFinAlertsEcnSetupDoesNot) {
  DetectorHarness h("flag-anomaly");
  h.packet(ipv4_frame("192.0.2.1", "10.0.0.1", 6,
                      tcp_segment(40000, 80, tcp_flag::kSyn | tcp_flag::kEce | tcp_flag::kCwr)),
           0);
  h.end();
  EXPECT_TRUE(h.alerts().empty());
  DetectorHarness f("flag-anomaly");
  f.packet(ipv4_frame("192.0.2.1", "10.0.0.1", 6,
                      tcp_segment(40000, 139, tcp_flag::kSyn | tcp_flag::kFin)),
           0);
  ASSERT_EQ(f.alerts().size(), 1u);
  EXPECT_EQ(f.alerts()[0].dport, 139);
}

}  // namespace
}  // namespace harrier::testing
