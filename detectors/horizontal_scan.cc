// horizontal-scan (seed detect 7; "Analyze This" SunRPC high-port sweep): one
// source probing the same port on many home hosts. Default: >= 3 hosts within
// 2 s, or >= 20 hosts within 24 h.
//
// What counts as a target: an attempt the host refused (RST, ICMP
// unreachable), or one it left unanswered for the flow table's answer grace
// on a (host, proto, port) the inventory does not list as served. The flow
// shards decide that (connection outcomes) and hand on only those, so a
// client talking to several servers that do serve the port costs nothing
// here and stays quiet, with or without an inventory.
//
// Host-behaviour: the outcomes are routed by source address, so every
// attempt of one source lands here, on one shard, in attempt order, whatever
// the worker count.
#include <algorithm>

#include "detectors/incident_detector.h"

namespace harrier {
namespace {

constexpr ParamSpec kParams[] = {
    {"fast_hosts", ParamType::kCount, 2, 65535, 3, "hosts on one port within fast_window"},
    {"fast_window", ParamType::kSeconds, 0.001, 3600, 2, "seconds for the fast threshold"},
    {"slow_hosts", ParamType::kCount, 2, 65535, 20, "hosts on one port within slow_window"},
    {"slow_window", ParamType::kSeconds, 1, 604800, 86400, "seconds for the slow threshold"},
    max_updates_param(4, "update alerts per incident (at 2x, 4x, ... hosts)"),
    hold_down_param(3600, 604800,
                    "seconds of silence after which the same source and port start a new incident"),
    table_size_param(65536, "(source, port) pairs remembered, all shards together"),
};

// Which threshold raised the incident.
enum class Threshold : uint8_t { kNone = 0, kFast, kSlow };

struct ScanTarget {
  IpAddr addr;  // family 0: slot free
  uint16_t sport = 0;
  uint64_t ts = 0;
  uint64_t order = 0;
};

struct Entry : KitEntry {
  static constexpr int kTargets = 32;
  uint32_t counted, failed;
  uint16_t probe_flags;
  Threshold threshold;
  ScanTarget t[kTargets];  // the latest targets (every one is in `counted`)
};

// The alert's own evidence.
struct Detail {
  uint32_t hosts, refused;
  Threshold threshold;
};

class HorizontalScan final : public IncidentDetector<HorizontalScan, Entry> {
 public:
  HorizontalScan(const DetectorDescriptor& d, const DetectorConfig& c)
      : IncidentDetector(d, c, "hscan"),
        fast_hosts_(uint32_t(c.get("fast_hosts"))),
        fast_window_(uint64_t(c.get("fast_window") * 1e9)),
        slow_hosts_(uint32_t(c.get("slow_hosts"))),
        slow_window_(uint64_t(c.get("slow_window") * 1e9)) {}

  // Lives on connection outcomes, not packets.
  PacketInterest packet_interest() const override { return PacketInterest::none(); }
  EventInterest event_interest() const override { return {EventInterest::kFailedAttempts, false}; }

  void on_events(ShardCtx& ctx, EventSelection events, DetectorState* st) const noexcept override {
    State& s = state(st);
    for (const HostEvent& ev : events) {
      const bool refused = ev.kind == HostEventKind::kRefused;
      if (!refused && !(ev.flags & host_event_flag::kUnexpected)) continue;
      bool fresh;
      Entry* e = incident(ctx, s, PairKey::make(ev.src, nullptr, ev.proto, ev.dport), ev.ts,
                          ev.order, &fresh, /*activity=*/false);
      if (!e) continue;
      if (fresh) e->probe_flags = ev.tcp_flags;
      if (!new_target(*e, ev)) continue;  // a target already counted
      e->inc.last_ts = ev.ts, e->last_order = ev.order;
      ++e->counted;
      if (refused) ++e->failed;
      if (e->inc.alerts_sent == 0)
        e->threshold = fast_count(*e) >= fast_hosts_ ? Threshold::kFast
                       : e->counted >= slow_hosts_   ? Threshold::kSlow
                                                     : Threshold::kNone;
      grew(ctx, s, *e, e->threshold != Threshold::kNone, ev.ts, ev.order);
    }
  }

  // Called by the kit.
  uint32_t amount(const Entry& e) const noexcept { return e.counted; }
  // A sweep is judged quiet where its outcomes are complete.
  uint64_t quiet_clock(const ShardCtx& ctx, uint64_t now) const noexcept {
    return ctx.outcomes_complete_until(now);
  }
  // Targets short of a threshold are counted for slow_window.
  bool starts_new(const Entry& e, uint64_t ts) const noexcept {
    return ts > e.inc.last_ts &&
           ts - e.inc.last_ts > (e.inc.alerts_sent ? policy_.hold_down_ns : slow_window_);
  }
  uint64_t idle_ns() const noexcept { return std::max(slow_window_, policy_.hold_down_ns); }

  void fill(ShardCtx& ctx, Alert* a, const Entry& e) const noexcept {
    const ScanTarget* list[Entry::kTargets] = {};
    uint32_t n = 0;
    for (const ScanTarget& t : e.t)
      if (t.addr.family != 0) list[n++] = &t;
    std::sort(list, list + n,
              [](const ScanTarget* x, const ScanTarget* y) { return x->order < y->order; });
    a->proto = e.key.proto;
    a->dst = list[0]->addr;
    a->sport = list[0]->sport;
    a->dport = e.key.port;
    a->score = ctx.score(a->dst, e.key.proto, e.key.port, cfg_.lethality);
    a->detail.put(Detail{e.counted, e.failed, e.threshold});
    a->tcp_flags = e.probe_flags;
    a->n_targets = e.counted;
    bool up = true, down = true;
    for (uint32_t i = 0; i < n; ++i) {
      if (i < uint32_t(Alert::kMaxTargets)) a->targets[i] = list[i]->addr;
      if (i > 0) {
        up = up && list[i - 1]->addr < list[i]->addr;
        down = down && list[i]->addr < list[i - 1]->addr;
      }
    }
    a->target_order = n < 2  ? TargetOrder::kSingle
                      : up   ? TargetOrder::kAscending
                      : down ? TargetOrder::kDescending
                             : TargetOrder::kRandom;
  }

 private:
  // Records a target not seen before (in a free slot, else the oldest's:
  // its count stays in `counted`); false for a target already counted.
  static bool new_target(Entry& e, const HostEvent& ev) noexcept {
    ScanTarget* slot = nullptr;
    for (ScanTarget& t : e.t) {
      if (t.addr.family == 0) {
        if (!slot || slot->addr.family != 0) slot = &t;
        continue;
      }
      if (t.addr == ev.dst) return false;
      if (!slot || (slot->addr.family != 0 && t.ts < slot->ts)) slot = &t;
    }
    *slot = ScanTarget{ev.dst, ev.sport, ev.ts, ev.order};
    return true;
  }

  // Most counted targets whose probes fall within one fast_window.
  uint32_t fast_count(const Entry& e) const noexcept {
    uint64_t ts[Entry::kTargets];
    uint32_t n = 0;
    for (const ScanTarget& t : e.t)
      if (t.addr.family != 0) ts[n++] = t.ts;
    std::sort(ts, ts + n);
    uint32_t best = 0;
    for (uint32_t lo = 0, hi = 0; hi < n; ++hi) {
      while (ts[hi] - ts[lo] > fast_window_)
        ++lo;
      best = std::max(best, hi - lo + 1);
    }
    return best;
  }

  uint32_t fast_hosts_;
  uint64_t fast_window_;
  uint32_t slow_hosts_;
  uint64_t slow_window_;
};

void render(const Alert& a, AlertText& t) {
  const Detail d = a.detail.get<Detail>();
  const uint32_t hosts = d.hosts, refused = d.refused;
  const double span = span_seconds(a.first_ts, a.last_ts);
  const std::string probe =
      a.proto == 6 ? format_tcp_flags(a.tcp_flags) + " probes" : proto_name(a.proto) + " probes";
  const std::string answer = refused == 0 ? "none answered"
                             : refused == hosts
                                 ? "all refused"
                                 : format_count(refused) + " refused, the rest unanswered";
  t.signature = "Horizontal scan: " + format_count(hosts) + " hosts on " + proto_name(a.proto) +
                "/" + std::to_string(a.dport) + " in " + format_seconds(span) + ", " +
                target_order_name(a.target_order) + ", " + probe + ", " + answer + update_suffix(a);
  auto& e = t.evidence;
  e["hosts"] = hosts;
  e["refused"] = refused;
  e["unanswered"] = hosts - refused;
  e["port"] = a.dport;
  e["proto"] = proto_name(a.proto);
  e["span_s"] = span;
  e["first_seen"] = eve_timestamp(a.first_ts);
  e["last_seen"] = eve_timestamp(a.last_ts);
  e["order"] = target_order_name(a.target_order);
  if (a.proto == 6) e["probe_flags"] = format_tcp_flags(a.tcp_flags);
  e["threshold"] = d.threshold == Threshold::kFast   ? "fast"
                   : d.threshold == Threshold::kSlow ? "slow"
                                                     : "none";
  e["targets"] = listed_targets(a);
  e["targets_total"] = a.n_targets;
  e["update"] = a.update;
}

}  // namespace

extern const DetectorDescriptor kHorizontalScan = {
    "horizontal-scan",
    1000007,
    DetectorKind::kHostBehaviour,
    "Detection of a Network Scan",
    "One source probing the same port on many home hosts",
    5,
    kParams,
    make_detector<HorizontalScan>,
    render,
    {"One source sends connection attempts to the same port on many hosts: a sweep for a "
     "service (a worm looking for its next victim, or a scanner mapping who runs it). The "
     "order of the targets (ascending, random) and the pace tell a tool from a worm.",
     "Unlikely: a sweep is only worth running if the answers reach the sweeper, so the "
     "source is probably real (it may be a compromised third party).",
     "Block the port at the border for hosts that do not offer it, check the hosts that "
     "answered for the service's known weaknesses, and block or report the source."},
    /*incident_is_victim=*/false,
    fusion_rank::kShape};

}  // namespace harrier
