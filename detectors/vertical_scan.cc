// vertical-scan ("Analyze This": 1,141 ports of one host in about 5 s): one
// source probing many ports of one home host. Default: >= 20 distinct ports
// within 5 s, or >= 100 within 60 s.
//
// What counts: connection attempts on ports the inventory does not list as
// served that the host refused (RST, ICMP unreachable: a scan of closed
// ports) or left unanswered (filtered), as the flow shards report them once
// the answer grace ran out. A port that answered and then carried a
// conversation is not an attempt at all (a client fetching files over
// passive FTP, a new high port per transfer, stays quiet and costs nothing
// here); one that answered and was left unused (SYN-ACK then RST: the open
// port of a SYN scan) is listed as open, and does not count toward the
// thresholds. One client opening many connections to one port is one port.
//
// Host-behaviour: events are keyed by the prober; one incident per (source,
// target, protocol) keeps the last kRing probes with their times, so both
// windows are decided from the ring, and whole-incident totals beside it.
#include <algorithm>

#include "detectors/incident_detector.h"

namespace harrier {
namespace {

constexpr uint32_t kRing = 128;

constexpr ParamSpec kParams[] = {
    {"fast_ports", ParamType::kCount, 2, kRing, 20, "distinct ports within fast_window"},
    {"fast_window", ParamType::kSeconds, 0.001, 3600, 5, "seconds for the fast threshold"},
    {"slow_ports", ParamType::kCount, 2, kRing, 100, "distinct ports within slow_window"},
    {"slow_window", ParamType::kSeconds, 0.001, 86400, 60, "seconds for the slow threshold"},
    max_updates_param(4, "update alerts per incident (when the port count doubles)"),
    hold_down_param(3600, 604800, "seconds of silence after which a source and target start anew"),
    table_size_param(16384, "(source, target) pairs remembered, all shards together"),
};

// How each probe was sent: the scan's type is the one most probes share.
enum ProbeType : uint8_t {
  kSynProbe,
  kNullProbe,
  kFinProbe,
  kXmasProbe,
  kAckProbe,
  kUdpProbe,
  kOtherTcpProbe,
  kTypes
};
constexpr const char* kTypeNames[] = {"SYN", "NULL", "FIN", "XMAS", "ACK", "UDP", "other TCP"};

ProbeType probe_type(uint8_t proto, uint16_t f) {
  namespace tf = tcp_flag;
  if (proto == 17) return kUdpProbe;
  if ((f & (tf::kSyn | tf::kAck)) == tf::kSyn) return kSynProbe;
  if ((f & 0x3F) == 0) return kNullProbe;
  if ((f & (tf::kFin | tf::kPsh | tf::kUrg)) == (tf::kFin | tf::kPsh | tf::kUrg)) return kXmasProbe;
  if ((f & 0x3F) == tf::kFin) return kFinProbe;
  if ((f & 0x3F) == tf::kAck) return kAckProbe;
  return kOtherTcpProbe;
}

enum PortState : uint8_t { kUnanswered = 0, kRefused, kAnswered };

struct Entry : KitEntry {
  // The last kRing distinct ports probed, oldest overwritten first.
  uint16_t port[kRing];
  uint32_t at_ms[kRing];  // probe time, ms after inc.first_ts
  uint8_t state[kRing];
  uint32_t head;     // next ring slot
  uint32_t probes;   // distinct ports over the incident (retries of a ring port excluded)
  uint32_t counted;  // of those, not answered
  uint32_t refused, answered;
  uint32_t sequential;  // probes whose port was the previous one + 1
  uint16_t prev_port, port_lo, port_hi;
  uint16_t first_sport;
  uint16_t types[kTypes];
  uint8_t ttl;
  uint16_t ip_id;
  uint8_t why;  // the threshold that raised the incident: 1 fast, 2 slow
};

constexpr int kRecent = 16;  // ports listed in an alert

// What an alert carries beyond the shared fields.
struct Detail {
  uint32_t counted, refused, answered;
  uint16_t port_lo, port_hi;
  uint8_t probe_type;  // the ProbeType most probes share
  uint8_t why;         // the threshold that raised the incident: 1 fast, 2 slow
  uint8_t n_recent;
  uint16_t recent[kRecent];  // the most recent ports, newest first
};

class VerticalScan final : public IncidentDetector<VerticalScan, Entry> {
 public:
  VerticalScan(const DetectorDescriptor& d, const DetectorConfig& c)
      : IncidentDetector(d, c, "vscan"),
        fast_ports_(uint32_t(c.get("fast_ports"))),
        fast_window_ms_(uint32_t(c.get("fast_window") * 1e3)),
        slow_ports_(uint32_t(c.get("slow_ports"))),
        slow_window_ms_(uint32_t(c.get("slow_window") * 1e3)) {}

  // Lives on connection outcomes, not packets.
  PacketInterest packet_interest() const override { return PacketInterest::none(); }
  EventInterest event_interest() const override { return {EventInterest::kAllOutcomes, false}; }

  void on_events(ShardCtx& ctx, EventSelection events, DetectorState* st) const noexcept override {
    State& s = state(st);
    for (const HostEvent& ev : events) {
      if (ev.proto != 6 && ev.proto != 17) continue;
      if (!(ev.flags & host_event_flag::kUnexpected)) continue;
      const PairKey k = PairKey::make(ev.src, &ev.dst, ev.proto, 0);
      probe(ctx, s, k, ev,
            ev.kind == HostEventKind::kOpen      ? kAnswered
            : ev.kind == HostEventKind::kRefused ? kRefused
                                                 : kUnanswered);
    }
  }

  uint32_t amount(const Entry& e) const noexcept { return e.counted; }
  uint64_t idle_ns() const noexcept {
    return std::max<uint64_t>(policy_.hold_down_ns, uint64_t(slow_window_ms_) * 1000000);
  }
  // Quiet is judged where the outcomes are complete.
  uint64_t quiet_clock(const ShardCtx& ctx, uint64_t now) const noexcept {
    return ctx.outcomes_complete_until(now);
  }

 private:
  static int find_port(const Entry& e, uint16_t port) noexcept {
    const uint32_t n = std::min(e.probes, kRing);
    for (uint32_t i = 0; i < n; ++i)
      if (e.port[i] == port) return int(i);
    return -1;
  }

  void probe(ShardCtx& ctx, State& s, const PairKey& k, const HostEvent& ev,
             PortState outcome) const noexcept {
    bool fresh;
    Entry* e = incident(ctx, s, k, ev.ts, ev.order, &fresh, /*activity=*/false);
    if (!e) return;
    if (fresh) {
      e->port_lo = e->port_hi = ev.dport;
      e->first_sport = ev.sport;
      e->ttl = ev.ttl, e->ip_id = ev.ip_id;
    } else if (find_port(*e, ev.dport) >= 0) {
      return;  // a new flow to a port already probed (a retry from another source port)
    }
    e->inc.last_ts = std::max(e->inc.last_ts, ev.ts);
    e->last_order = ev.order;
    const uint32_t at =
        uint32_t(std::min<uint64_t>(span_seconds(e->inc.first_ts, ev.ts) * 1e3, UINT32_MAX));
    const uint32_t slot = e->head;
    e->head = (e->head + 1) % kRing;
    e->port[slot] = ev.dport;
    e->at_ms[slot] = at;
    e->state[slot] = outcome;
    if (e->probes > 0 && ev.dport == uint16_t(e->prev_port + 1)) ++e->sequential;
    e->prev_port = ev.dport;
    ++e->probes;
    ++e->types[probe_type(ev.proto, ev.tcp_flags)];
    e->port_lo = std::min(e->port_lo, ev.dport);
    e->port_hi = std::max(e->port_hi, ev.dport);
    if (outcome == kAnswered) {
      ++e->answered;  // an open port: evidence, not a count
      return;
    }
    ++e->counted;
    if (outcome == kRefused) ++e->refused;

    if (e->inc.alerts_sent == 0) {
      e->why = in_window(*e, at, fast_window_ms_) >= fast_ports_   ? 1
               : in_window(*e, at, slow_window_ms_) >= slow_ports_ ? 2
                                                                   : 0;
    }
    grew(ctx, s, *e, e->why != 0, ev.ts, ev.order);
  }

  // Ring ports probed within `window_ms` before `now_ms` that were not answered.
  static uint32_t in_window(const Entry& e, uint32_t now_ms, uint32_t window_ms) noexcept {
    const uint32_t n = std::min(e.probes, kRing);
    uint32_t c = 0;
    for (uint32_t i = 0; i < n; ++i)
      c += e.state[i] != kAnswered && now_ms - e.at_ms[i] <= window_ms;
    return c;
  }

 public:
  // The alert names the newest port probed.
  void fill(ShardCtx& ctx, Alert* a, const Entry& e) const noexcept {
    a->proto = e.key.proto;
    a->dst = e.key.second();
    a->sport = e.first_sport;
    a->dport = e.port[(e.head + kRing - 1) % kRing];
    a->score = ctx.score(a->dst, a->proto, a->dport, cfg_.lethality);
    Detail d{};
    d.counted = e.counted, d.refused = e.refused, d.answered = e.answered;
    d.port_lo = e.port_lo, d.port_hi = e.port_hi;
    for (uint32_t i = 1; i < kTypes; ++i)
      if (e.types[i] > e.types[d.probe_type]) d.probe_type = uint8_t(i);
    d.why = e.why;
    a->target_order = e.probes < 2 ? TargetOrder::kSingle
                      // Mostly port+1 steps: a sequential sweep (nmap -r, a loop).
                      : e.sequential * 10 >= (e.probes - 1) * 9 ? TargetOrder::kAscending
                                                                : TargetOrder::kRandom;
    a->targets[0] = a->dst;
    a->n_targets = 1;
    a->ttl = e.ttl, a->ip_id = e.ip_id;
    d.n_recent = uint8_t(std::min<uint32_t>(e.probes, kRecent));
    for (uint32_t i = 0; i < d.n_recent; ++i)
      d.recent[i] = e.port[(e.head + kRing - 1 - i) % kRing];
    a->detail.put(d);
  }

 private:
  uint32_t fast_ports_;
  uint32_t fast_window_ms_;
  uint32_t slow_ports_;
  uint32_t slow_window_ms_;
};

void render(const Alert& a, AlertText& t) {
  const Detail d = a.detail.get<Detail>();
  const uint32_t ports = d.counted, refused = d.refused, answered = d.answered;
  const uint16_t lo = d.port_lo, hi = d.port_hi;
  const uint32_t type = std::min<uint32_t>(d.probe_type, kTypes - 1);
  const double span = span_seconds(a.first_ts, a.last_ts);
  const bool sequential = a.target_order == TargetOrder::kAscending;
  const uint32_t total = ports + answered, unanswered = ports - refused;
  std::string outcome;
  if (answered) outcome += ", " + format_count(answered) + " open";
  if (refused) outcome += ", " + format_count(refused) + " closed";
  if (unanswered) outcome += ", " + format_count(unanswered) + " unanswered";
  t.signature = "Vertical scan: " + format_count(total) + " " + proto_name(a.proto) + " ports of " +
                ip_to_string(a.dst) + " in " + format_seconds(span) + ", " +
                (sequential ? "sequential" : "random order") + ", " + kTypeNames[type] +
                ", ports " + std::to_string(lo) + "-" + std::to_string(hi) + outcome +
                update_suffix(a);
  auto& e = t.evidence;
  e["ports"] = total;
  e["probes_counted"] = ports;
  e["closed"] = refused;
  e["open"] = answered;
  e["unanswered"] = unanswered;
  e["port_range"] = {lo, hi};
  e["order"] = sequential ? "sequential" : "random";
  e["probe_type"] = kTypeNames[type];
  e["span_s"] = span;
  e["first_seen"] = eve_timestamp(a.first_ts);
  e["last_seen"] = eve_timestamp(a.last_ts);
  e["threshold"] = d.why == 1 ? "fast" : d.why == 2 ? "slow" : "none";  // what raised the incident
  auto recent = nlohmann::ordered_json::array();
  for (uint32_t i = 0; i < std::min<uint32_t>(d.n_recent, kRecent); ++i)
    recent.push_back(d.recent[i]);
  e["recent_ports"] = recent;
  e["ttl"] = a.ttl;
  e["ip_id"] = a.ip_id;
  e["update"] = a.update;
}

}  // namespace

extern const DetectorDescriptor kVerticalScan = {
    "vertical-scan",
    1000012,
    DetectorKind::kHostBehaviour,
    "Detection of a Network Scan",
    "One source probing many ports of one home host (>= 20 within 5 s or >= 100 within 60 s)",
    4,
    kParams,
    make_detector<VerticalScan>,
    render,
    {"A port scanner sends one probe to each port of a host and reads the answers: a SYN-ACK "
     "(open), a RST (closed), silence (filtered); NULL, FIN and XMAS probes pass filters that "
     "only watch SYNs, and a UDP scan reads ICMP port-unreachables. Sequential order is a "
     "simple loop; random order is nmap's default, meant to slip past threshold detectors.",
     "Unlikely: the answers are the point of a scan, so they must reach the scanner. Decoys "
     "(nmap -D) do mix forged sources into a scan: the real one is the source that also "
     "connects afterwards.",
     "Check which ports answered and that each is meant to be offered; filter the rest at the "
     "border. Watch the source for a follow-up against the open ports (a fingerprint, then "
     "exploits), and block it if the scan was not authorised."},
    /*incident_is_victim=*/false,
    fusion_rank::kShape};

}  // namespace harrier
