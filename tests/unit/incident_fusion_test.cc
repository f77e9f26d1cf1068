// IncidentFusion: one activity of one subject is one incident, named by the
// most specific detector; the rest is folded in as evidence. Fed alerts
// directly, as the emit stage hands them over.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "detectors/incident_fusion.h"
#include "detectors/registry.h"

namespace harrier {
namespace {

constexpr uint64_t kS = 1'000'000'000ull;
constexpr uint64_t kGrace = 3 * kS;
constexpr uint64_t kT0 = 1'000'000 * kS;

uint16_t det(const char* id) {
  const int i = find_detector(id);
  EXPECT_GE(i, 0) << id;
  return uint16_t(i);
}

IpAddr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  IpAddr x;
  x.family = 4;
  x.bytes[0] = a, x.bytes[1] = b, x.bytes[2] = c, x.bytes[3] = d;
  return x;
}

struct Fixture {
  explicit Fixture(FusionConfig cfg = {}) {
    std::string err;
    f = IncidentFusion::create(cfg, kGrace, 0, &err);
    EXPECT_TRUE(f) << err;
  }
  // An alert of `detector` from `src` at t seconds; `key` names its detector incident.
  Alert alert(const char* detector, const IpAddr& src, double t, uint64_t key, bool bare = false) {
    Alert a;
    a.detector = det(detector);
    a.src = src;
    a.dst = v4(10, 0, 0, 1);
    a.ts = a.first_ts = a.last_ts = kT0 + uint64_t(t * 1e9);
    a.order = ++order;
    a.incident_key = key;
    a.bare_probe = bare;
    return a;
  }
  void add(const Alert& a) {
    f->advance(a.ts, out);
    f->add(a, a.ts, out);
  }
  void at(double t) { f->advance(kT0 + uint64_t(t * 1e9), out); }
  std::vector<Alert> take(AlertDisposition d) {
    std::vector<Alert> r;
    for (const Alert& a : out)
      if (a.disposition == d) r.push_back(a);
    return r;
  }
  std::unique_ptr<IncidentFusion> f;
  std::vector<Alert> out;
  uint64_t order = 0;
};

const IpAddr kScanner = v4(192, 0, 2, 7);
const IpAddr kOther = v4(198, 51, 100, 9);

TEST(IncidentFusion, ABareProbeInsideAScanIsTheScansEvidence) {
  Fixture x;
  x.add(x.alert("portmap-probe", kScanner, 0.5, 0, /*bare=*/true));
  x.add(x.alert("vertical-scan", kScanner, 0.1, 11));  // outcomes arrive after the grace
  x.at(20);
  const auto alerts = x.take(AlertDisposition::kAlert);
  const auto folded = x.take(AlertDisposition::kFolded);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].detector, det("vertical-scan"));
  EXPECT_EQ(alerts[0].update, 0);
  EXPECT_EQ(alerts[0].folded_detectors, uint64_t(1) << det("portmap-probe"));
  EXPECT_EQ(alerts[0].folded_alerts, 1u);
  ASSERT_EQ(folded.size(), 1u);
  EXPECT_EQ(folded[0].detector, det("portmap-probe"));
  EXPECT_EQ(folded[0].incident_id, alerts[0].incident_id);
}

TEST(IncidentFusion, TheSameProbeFromASourceThatIsNotScanningAlertsAlone) {
  Fixture x;
  x.add(x.alert("portmap-probe", kScanner, 0, 0, true));
  x.add(x.alert("vertical-scan", kOther, 0.2, 11));  // someone else's scan
  x.at(7.9);                                         // grace + lookahead (8 s) not yet over
  EXPECT_TRUE(x.take(AlertDisposition::kAlert).empty());
  EXPECT_EQ(x.f->held_incidents(), 2u);
  x.at(8.1);
  const auto alerts = x.take(AlertDisposition::kAlert);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].detector, det("portmap-probe"));
  EXPECT_EQ(alerts[0].folded_alerts, 0u);
  x.at(9);
  ASSERT_EQ(x.take(AlertDisposition::kAlert).size(), 2u);
  EXPECT_NE(x.take(AlertDisposition::kAlert)[0].incident_id,
            x.take(AlertDisposition::kAlert)[1].incident_id);
  EXPECT_TRUE(x.take(AlertDisposition::kFolded).empty());
}

TEST(IncidentFusion, AMoreSpecificDetectorLaterTakesTheIncidentOverWithAnUpdate) {
  Fixture x;
  x.add(x.alert("horizontal-scan", kScanner, 0, 21));
  x.at(30);  // released: the scan was the incident's first alert
  x.add(x.alert("netbios-sweep", kScanner, 31, 31));
  const auto alerts = x.take(AlertDisposition::kAlert);
  ASSERT_EQ(alerts.size(), 2u);
  EXPECT_EQ(alerts[0].detector, det("horizontal-scan"));
  EXPECT_EQ(alerts[1].detector, det("netbios-sweep"));
  EXPECT_EQ(alerts[1].update, 1);  // the incident's, not the detector's
  EXPECT_EQ(alerts[1].incident_id, alerts[0].incident_id);
  EXPECT_EQ(alerts[1].folded_detectors, uint64_t(1) << det("horizontal-scan"));
  const auto folded = x.take(AlertDisposition::kFolded);
  ASSERT_EQ(folded.size(), 1u);  // the former lead's latest, as evidence
  EXPECT_EQ(folded[0].detector, det("horizontal-scan"));
  EXPECT_EQ(x.f->counters().takeovers, 1u);
}

TEST(IncidentFusion, WithinTheLookaheadTheSpecificDetectorNamesItFromTheStart) {
  Fixture x;
  x.add(x.alert("horizontal-scan", kScanner, 0, 21));
  x.add(x.alert("netbios-sweep", kScanner, 2, 31));
  x.at(30);
  const auto alerts = x.take(AlertDisposition::kAlert);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].detector, det("netbios-sweep"));
  EXPECT_EQ(alerts[0].update, 0);
  EXPECT_EQ(x.f->counters().takeovers, 0u);
}

TEST(IncidentFusion, TheLeadsOwnUpdatesDuringTheLookaheadMakeOneRicherFirstAlert) {
  Fixture x;
  Alert first = x.alert("vertical-scan", kScanner, 0, 11);
  first.n_targets = 20;
  x.add(first);
  Alert grown = x.alert("vertical-scan", kScanner, 2, 11);
  grown.first_ts = first.first_ts;
  grown.update = 1;
  grown.n_targets = 1141;
  x.add(grown);
  x.at(30);
  Alert later = x.alert("vertical-scan", kScanner, 31, 11);
  later.update = 2;
  x.add(later);
  const auto alerts = x.take(AlertDisposition::kAlert);
  ASSERT_EQ(alerts.size(), 2u);
  EXPECT_EQ(alerts[0].update, 0);
  EXPECT_EQ(alerts[0].n_targets, 1141u);
  EXPECT_EQ(alerts[1].update, 1);
}

TEST(IncidentFusion, FoldedFindingsAfterTheFirstAlertGoOutOnceQuietBoundedThenAtClose) {
  FusionConfig cfg;
  cfg.max_fold_updates = 2;
  Fixture x(cfg);
  x.add(x.alert("vertical-scan", kScanner, 0, 11));
  x.at(10);
  ASSERT_EQ(x.take(AlertDisposition::kAlert).size(), 1u);
  for (int i = 0; i < 4; ++i) {
    // A trojan port probed, then quiet for longer than the lookahead.
    x.add(x.alert("trojan-port-probe", kScanner, 20 + 10 * i, 100 + i, true));
    x.at(20 + 10 * i + 6);
  }
  auto alerts = x.take(AlertDisposition::kAlert);
  ASSERT_EQ(alerts.size(), 3u);  // the first, then two for the folded probes (the bound)
  EXPECT_EQ(alerts[1].folded_alerts, 1u);
  EXPECT_EQ(alerts[2].folded_alerts, 2u);
  EXPECT_GT(alerts[2].ts, alerts[1].ts);  // as recent as what it reports
  x.f->flush(x.out);                      // the end: what is still owed goes out
  alerts = x.take(AlertDisposition::kAlert);
  ASSERT_EQ(alerts.size(), 4u);
  EXPECT_EQ(alerts[3].folded_alerts, 4u);
  EXPECT_EQ(alerts[3].update, 3);
  ASSERT_EQ(x.take(AlertDisposition::kClosed).size(), 1u);
  EXPECT_EQ(x.f->open_incidents(), 0u);
}

TEST(IncidentFusion, ActivityAfterTheWindowIsANewIncident) {
  FusionConfig cfg;
  cfg.window_ns = 600 * kS;
  Fixture x(cfg);
  x.add(x.alert("portmap-probe", kScanner, 0, 0));
  x.add(x.alert("portmap-probe", kScanner, 86400, 0));  // the next day
  x.f->flush(x.out);
  const auto alerts = x.take(AlertDisposition::kAlert);
  ASSERT_EQ(alerts.size(), 2u);
  EXPECT_NE(alerts[0].incident_id, alerts[1].incident_id);
  EXPECT_EQ(alerts[1].update, 0);
  EXPECT_EQ(x.take(AlertDisposition::kClosed).size(), 2u);
}

TEST(IncidentFusion, AReopenedIncidentHasANewId) {
  FusionConfig cfg;
  cfg.window_ns = 600 * kS;
  Fixture x(cfg);
  const Alert first = x.alert("trojan-port-probe", kScanner, 0, 77);
  x.add(first);
  // Two hours later the detector's own incident goes on (its hold-down is a
  // day), but the fused one closed after the window: a new incident.
  Alert later = x.alert("trojan-port-probe", kScanner, 7200, 77);
  later.first_ts = first.first_ts;
  later.update = 1;
  x.add(later);
  x.f->flush(x.out);
  const auto alerts = x.take(AlertDisposition::kAlert);
  ASSERT_EQ(alerts.size(), 2u);
  EXPECT_EQ(alerts[1].update, 0);
  EXPECT_NE(alerts[0].incident_id, alerts[1].incident_id);
}

TEST(IncidentFusion, BackscatterFusesByItsVictim) {
  Fixture x;
  Alert rst = x.alert("rst-backscatter", v4(203, 0, 113, 1), 0, 41);
  Alert icmp = x.alert("icmp-unreach-backscatter", v4(198, 18, 0, 1), 1, 51);
  x.add(rst);
  x.add(icmp);  // another source, the same victim (10.0.0.1)
  x.at(30);
  ASSERT_EQ(x.take(AlertDisposition::kAlert).size(), 1u);
  ASSERT_EQ(x.take(AlertDisposition::kFolded).size(), 1u);
}

TEST(IncidentFusion, AFullTableClosesItsLeastRecentIncidentWithNothingLost) {
  FusionConfig cfg;
  cfg.capacity = 64;
  Fixture x(cfg);
  for (uint8_t i = 0; i < 65; ++i)
    x.add(x.alert("horizontal-scan", v4(192, 0, 2, i), 0.001 * i, 1000 + i));
  EXPECT_EQ(x.f->counters().evicted, 1u);
  EXPECT_EQ(x.take(AlertDisposition::kAlert).size(), 1u);  // the evicted one, released early
  x.f->flush(x.out);
  EXPECT_EQ(x.take(AlertDisposition::kAlert).size(), 65u);
}

TEST(IncidentFusion, OffEveryAlertIsAnIncidentOfItsOwnAtOnce) {
  FusionConfig cfg;
  cfg.enabled = false;
  Fixture x(cfg);
  x.add(x.alert("portmap-probe", kScanner, 0, 0, true));
  x.add(x.alert("vertical-scan", kScanner, 0.1, 11));
  const auto alerts = x.take(AlertDisposition::kAlert);
  ASSERT_EQ(alerts.size(), 2u);
  EXPECT_NE(alerts[0].incident_id, alerts[1].incident_id);
  EXPECT_NE(alerts[0].incident_id, 0u);
}

TEST(IncidentNotes, ListsWhatWasFoldedAndForgetsAClosedIncident) {
  IncidentNotes notes;
  Alert lead;
  lead.detector = det("vertical-scan");
  lead.incident_id = 7;
  lead.folded_detectors = uint64_t(1) << det("portmap-probe") | uint64_t(1) << det("flag-anomaly");
  Alert bare = lead;
  bare.detector = det("portmap-probe");
  bare.bare_probe = true;
  bare.disposition = AlertDisposition::kFolded;
  AlertText bt;
  bt.signature = "SunRPC portmapper probe";
  bt.touched = "111/tcp portmapper";
  notes.fold(bare, bt);
  Alert flag = bare;
  flag.detector = det("flag-anomaly");
  flag.bare_probe = false;
  flag.incident_key = 5;
  AlertText ft;
  ft.signature = "TCP flags no stack sends: FIN without ACK";
  notes.fold(flag, ft);
  ft.signature = "TCP flags no stack sends: FIN without ACK, 40 packets";  // its update
  notes.fold(flag, ft);
  AlertText t;
  notes.annotate(lead, t);
  EXPECT_EQ(t.evidence["touched"], nlohmann::ordered_json::array({"111/tcp portmapper"}));
  EXPECT_EQ(t.evidence["also"], nlohmann::ordered_json::array(
                                    {"TCP flags no stack sends: FIN without ACK, 40 packets"}));
  const auto j = incident_json(lead);
  EXPECT_EQ(j["id"], "0000000000000007");
  EXPECT_EQ(j["detectors"],
            nlohmann::ordered_json::array({"vertical-scan", "portmap-probe", "flag-anomaly"}));
  notes.close(7);
  EXPECT_EQ(notes.open(), 0u);
}

}  // namespace
}  // namespace harrier
