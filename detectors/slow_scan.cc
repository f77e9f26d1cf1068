// slow-scan ("Analyze This": a slow UDP scan over a month): targets gathered
// too slowly for the fast thresholds of vertical-scan and horizontal-scan.
// Default: >= 50 distinct ports of one host, or >= 30 hosts on one port,
// within 24 h from one source, at an average pace below `max_rate` (above
// it, the fast detectors own the scan).
//
// Memory that lasts days at a fixed budget: each (source, target) and
// (source, port) key keeps a linear-counting bitmap (1,024 bits) per half of
// the window; the window slides by dropping the older half. The estimate is
// exact in practice below a few hundred items. Keys live in one bounded table
// that evicts the least recently active key when full.
//
// What counts: connection attempts on (host, port)s the inventory does not
// list that the host refused or left unanswered (the flow shards' connection
// outcomes; an answered port, e.g. a passive FTP data port, never gets here).
// The count is the same whatever the traffic around it and the worker
// count. Replies to requests a home
// host made are not attempts at all (the flow table knows the request), so
// they stay quiet; unsolicited "replies" (a fixed privileged source port such
// as 53 toward high ports) are counted and the alert says they look like
// replies whose requests the sensor did not see.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include <rte_hash_crc.h>

#include "detectors/incident_detector.h"

namespace harrier {
namespace {

constexpr ParamSpec kParams[] = {
    {"min_ports", ParamType::kCount, 2, 4096, 50, "distinct ports of one host within window"},
    {"min_hosts", ParamType::kCount, 2, 4096, 30, "distinct hosts on one port within window"},
    {"window", ParamType::kSeconds, 60, 2592000, 86400, "seconds of memory"},
    {"max_rate", ParamType::kScore, 0.001, 1000, 1.67,
     "targets per second above which the scan is a fast one (vertical/horizontal-scan's)"},
    max_updates_param(4, "update alerts per incident (when the target count doubles)"),
    hold_down_param(86400, 2592000,
                    "seconds of silence after which the same key starts a new incident"),
    table_size_param(32768,
                     "(source, host) and (source, port) keys remembered, all shards together"),
};

constexpr uint32_t kBits = 1024;
constexpr uint32_t kWords = kBits / 64;
enum Leg : uint8_t { kPortsOfHost = 1, kHostsOnPort = 2 };

struct Entry : KitEntry {
  uint64_t bits[2][kWords];  // targets tried: [cur] this half-window, [cur ^ 1] the one before
  uint8_t cur;
  uint64_t half_start;       // when bits[cur] began
  uint64_t window_first_ts;  // first counted attempt still inside the window
  uint32_t attempts;
  uint32_t estimated;  // distinct targets in the window, as of the latest attempt
  uint16_t first_sport;
  bool one_sport;
  uint16_t min_dport;
  uint16_t tcp_flags;
  IpAddr last_dst;  // the latest attempt's target (an alert names it)
  uint16_t last_dport;
  uint8_t n_ports;
  uint16_t ports[16];   // port leg: the first ports tried
  TargetList<8> hosts;  // host leg: the first hosts tried
};

// The alert's own evidence.
struct Detail {
  uint32_t targets;  // ports (of one host) or hosts (on one port)
  uint32_t attempts;
  uint32_t span_s;
  Leg leg;
  bool looks_like_replies;  // one privileged source port toward high ports only
  uint8_t n_ports;
  uint16_t ports[16];  // port leg: the first ports tried
};

class SlowScan final : public IncidentDetector<SlowScan, Entry> {
 public:
  SlowScan(const DetectorDescriptor& d, const DetectorConfig& c)
      : IncidentDetector(d, c, "slow", /*closing_update=*/false),
        min_ports_(uint32_t(c.get("min_ports"))),
        min_hosts_(uint32_t(c.get("min_hosts"))),
        half_ns_(uint64_t(c.get("window") * 1e9) / 2),
        max_rate_(c.get("max_rate")) {}

  // Lives on connection outcomes, not packets.
  PacketInterest packet_interest() const override { return PacketInterest::none(); }
  EventInterest event_interest() const override { return {EventInterest::kFailedAttempts, false}; }

  void on_events(ShardCtx& ctx, EventSelection events, DetectorState* st) const noexcept override {
    State& s = state(st);
    for (const HostEvent& ev : events) {
      if (ev.proto != 6 && ev.proto != 17) continue;
      if (!(ev.flags & host_event_flag::kUnexpected)) continue;
      // Ports of one host.
      if (Entry* e = attempt(ctx, s, PairKey::make(ev.src, &ev.dst, ev.proto, 0, kPortsOfHost), ev,
                             bit_of(ev.dport))) {
        bool listed = false;
        for (uint32_t i = 0; i < e->n_ports; ++i)
          listed = listed || e->ports[i] == ev.dport;
        if (!listed && e->n_ports < 16) e->ports[e->n_ports++] = ev.dport;
        decide(ctx, s, *e, ev, min_ports_);
      }
      // Hosts on one port.
      if (Entry* e =
              attempt(ctx, s, PairKey::make(ev.src, nullptr, ev.proto, ev.dport, kHostsOnPort), ev,
                      bit_of(ev.dst))) {
        e->hosts.add(ev.dst, ev.ts);
        decide(ctx, s, *e, ev, min_hosts_);
      }
    }
  }

  // Called by the kit.
  uint32_t amount(const Entry& e) const noexcept { return e.estimated; }
  uint64_t idle_ns() const noexcept { return std::max(2 * half_ns_, policy_.hold_down_ns); }

  void fill(ShardCtx& ctx, Alert* a, const Entry& e) const noexcept {
    a->proto = e.key.proto;
    a->dst = e.last_dst;
    a->sport = e.first_sport, a->dport = e.last_dport;
    a->first_ts = e.window_first_ts;
    a->score = ctx.score(a->dst, a->proto, a->dport, cfg_.lethality);
    a->tcp_flags = e.tcp_flags;
    // Seconds, saturated: events from another process may carry any times.
    const uint64_t span_ns =
        e.inc.last_ts > e.window_first_ts ? e.inc.last_ts - e.window_first_ts : 0;
    const double span = std::clamp(double(span_ns) / 1e9, 1.0, double(UINT32_MAX));
    Detail d{e.estimated,
             e.attempts,
             uint32_t(span),
             Leg(e.key.kind),
             e.one_sport && e.first_sport < 1024 && e.min_dport >= 1024,
             0,
             {}};
    if (d.leg == kPortsOfHost) {
      a->targets[0] = e.last_dst;
      a->n_targets = 1;
      d.n_ports = e.n_ports;
      std::copy(e.ports, e.ports + e.n_ports, d.ports);
    } else {
      e.hosts.fill(*a);
      a->n_targets = e.estimated;
    }
    a->detail.put(d);
  }

 private:
  // Hashed from aligned copies: rte_hash_crc loads whole words.
  static uint32_t bit_of(uint16_t port) noexcept {
    return rte_hash_crc(&port, sizeof port, 0x5eed) % kBits;
  }
  static uint32_t bit_of(const IpAddr& a) noexcept {
    uint64_t w[2];
    std::memcpy(w, a.bytes, sizeof w);
    return rte_hash_crc(w, sizeof w, 0x5eed) % kBits;
  }

  // Linear counting (Whang et al.) over the two halves: n = -m ln(zeros / m).
  static uint32_t estimate(const uint64_t (&maps)[2][kWords]) noexcept {
    uint32_t ones = 0;
    for (uint32_t w = 0; w < kWords; ++w)
      ones += uint32_t(__builtin_popcountll(maps[0][w] | maps[1][w]));
    if (ones == kBits) return kBits * 7;  // saturated: at least this many
    return uint32_t(std::lround(-double(kBits) * std::log(double(kBits - ones) / kBits)));
  }

  // Moves the window on to `ts`: one half-window passed, the older half
  // leaves; two passed, both.
  void slide(Entry& e, uint64_t ts) const noexcept {
    if (ts < e.half_start + half_ns_) return;
    const bool both = ts >= e.half_start + 2 * half_ns_;
    e.cur ^= 1;
    std::fill(std::begin(e.bits[e.cur]), std::end(e.bits[e.cur]), 0);
    if (both) {
      std::fill(std::begin(e.bits[e.cur ^ 1]), std::end(e.bits[e.cur ^ 1]), 0);
    }
    e.half_start = both ? ts : e.half_start + half_ns_;
    const uint64_t window_start = ts > 2 * half_ns_ ? ts - 2 * half_ns_ : 0;
    e.window_first_ts = both ? ts : std::max(e.window_first_ts, window_start);
  }

  // Counts one attempt into the incident of `k`, its target being `bit`.
  Entry* attempt(ShardCtx& ctx, State& s, const PairKey& k, const HostEvent& ev,
                 uint32_t bit) const noexcept {
    bool fresh;
    Entry* e = incident(ctx, s, k, ev.ts, ev.order, &fresh);
    if (!e) return nullptr;
    if (e->attempts == 0) {
      e->window_first_ts = e->half_start = ev.ts;
      e->first_sport = ev.sport;
      e->one_sport = true;
      e->min_dport = ev.dport;
    }
    e->inc.last_ts = ev.ts;
    ++e->attempts;
    e->one_sport = e->one_sport && ev.sport == e->first_sport;
    e->min_dport = std::min(e->min_dport, ev.dport);
    e->tcp_flags |= ev.tcp_flags;
    e->last_dst = ev.dst, e->last_dport = ev.dport;
    slide(*e, ev.ts);
    e->bits[e->cur][bit / 64] |= uint64_t(1) << (bit % 64);
    e->estimated = estimate(e->bits);
    return e;
  }

  void decide(ShardCtx& ctx, State& s, Entry& e, const HostEvent& ev,
              uint32_t threshold) const noexcept {
    const double span = std::max(1.0, double(ev.ts - e.window_first_ts) / 1e9);
    const bool slow = double(e.estimated) / span <= max_rate_;
    grew(ctx, s, e, e.estimated >= threshold && slow, ev.ts, ev.order);
  }

  uint32_t min_ports_, min_hosts_;
  uint64_t half_ns_;
  double max_rate_;
};

void render(const Alert& a, AlertText& t) {
  const Detail d = a.detail.get<Detail>();
  const bool ports_leg = d.leg == kPortsOfHost;
  const uint32_t n = d.targets;
  const double span = d.span_s, rate_per_hour = span > 0 ? n / span * 3600 : 0;
  const bool replies = d.looks_like_replies;
  const std::string what =
      ports_leg
          ? format_count(n) + " " + proto_name(a.proto) + " ports of " + ip_to_string(a.dst)
          : format_count(n) + " hosts on " + proto_name(a.proto) + "/" + std::to_string(a.dport);
  char rate[32];
  std::snprintf(rate, sizeof rate, "%.1f", rate_per_hour);
  t.signature = "Slow scan: " + what + " over " + format_seconds(span) + " (" + rate +
                " per hour)" +
                (replies ? ", all from source port " + std::to_string(a.sport) +
                               ": looks like replies to requests the sensor did not see"
                         : "") +
                update_suffix(a);
  auto& e = t.evidence;
  e["leg"] = ports_leg ? "ports_of_host" : "hosts_on_port";
  e[ports_leg ? "ports" : "hosts"] = n;
  e["estimate"] = "linear counting over a 1024-bit map";
  e["attempts"] = d.attempts;
  e["span_s"] = span;
  e["per_hour"] = rate_per_hour;
  e["first_seen"] = eve_timestamp(a.first_ts);
  e["last_seen"] = eve_timestamp(a.last_ts);
  e["looks_like_replies"] = replies;
  e["source_port"] = a.sport;
  if (a.proto == 6) e["flags"] = format_tcp_flags(a.tcp_flags);
  if (ports_leg) {
    auto ports = nlohmann::ordered_json::array();
    for (uint32_t i = 0; i < d.n_ports; ++i)
      ports.push_back(d.ports[i]);
    e["first_ports"] = ports;
  } else {
    auto hosts = nlohmann::ordered_json::array();
    for (uint32_t i = 0;
         i < std::min<uint32_t>(std::min<uint32_t>(a.n_targets, 8), Alert::kMaxTargets); ++i)
      hosts.push_back(ip_to_string(a.targets[i]));
    e["first_hosts"] = hosts;
  }
  e["update"] = a.update;
}

}  // namespace

extern const DetectorDescriptor kSlowScan = {
    "slow-scan",
    1000013,
    DetectorKind::kHostBehaviour,
    "Detection of a Network Scan",
    "Ports of one host or hosts on one port gathered slowly (>= 50 or >= 30 within 24 h)",
    3,
    kParams,
    make_detector<SlowScan>,
    render,
    {"A patient scanner sends a few probes at a time, minutes or hours apart, so no short "
     "window ever holds enough of them to trip a threshold; over a day the targets add up. "
     "Scans from a fixed source port such as 53 or 123 hope to pass filters that let replies "
     "of those services through.",
     "Unlikely for a real scan (the scanner needs the answers), but traffic that looks like "
     "replies to requests nobody here sent can also be backscatter: someone spoofing the "
     "home address toward those services.",
     "Check which ports answered. Filter by state, not by source port (stateful rules let a "
     "reply in only when the request went out). Track the source over longer windows and "
     "block it if the scan was not authorised."},
    /*incident_is_victim=*/false,
    fusion_rank::kSlowShape};

}  // namespace harrier
