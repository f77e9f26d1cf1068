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
#include <cstring>

#include "dataplane/bounded_table.h"
#include "dataplane/prefix.h"
#include "detectors/detector.h"
#include "detectors/evidence.h"

namespace harrier {
namespace {

constexpr ParamSpec kParams[] = {
    {"fast_hosts", ParamType::kCount, 2, 65535, 3, "hosts on one port within fast_window"},
    {"fast_window", ParamType::kSeconds, 0.001, 3600, 2, "seconds for the fast threshold"},
    {"slow_hosts", ParamType::kCount, 2, 65535, 20, "hosts on one port within slow_window"},
    {"slow_window", ParamType::kSeconds, 1, 604800, 86400, "seconds for the slow threshold"},
    {"max_updates", ParamType::kCount, 0, 64, 4,
     "update alerts per incident (at 2x, 4x, ... hosts)"},
    {"hold_down", ParamType::kSeconds, 1, 604800, 3600,
     "seconds of silence after which the same source and port start a new incident"},
    {"table_size", ParamType::kCount, 1024, 1 << 24, 65536,
     "(source, port) pairs remembered, all shards together"},
};

struct alignas(8) ScanKey {  // aligned: rte_hash_crc loads 8 bytes at a time
  uint8_t src[16];
  uint8_t family;
  uint8_t proto;
  uint16_t port;
  uint32_t pad;
};
static_assert(sizeof(ScanKey) == 24);

struct ScanTarget {
  IpAddr addr;  // family 0: slot free
  bool failed = false;
  uint16_t sport = 0;
  uint64_t ts = 0;
  uint64_t order = 0;
};

struct ScanEntry {
  static constexpr int kTargets = 32;
  ScanKey key;
  uint64_t last_ts;
  uint32_t lru_prev, lru_next;
  Incident inc;
  uint32_t counted, failed;
  uint16_t probe_flags;
  ScanTarget t[kTargets];  // the latest targets (every one is in `counted`)
  // A full table passes over incidents that have alerted before it evicts.
  bool kept() const noexcept { return inc.alerts_sent > 0; }
};

using ScanTable = BoundedTable<ScanKey, ScanEntry>;

struct State final : DetectorState {
  std::unique_ptr<ScanTable> table;
  SettleList settle{4096};
};

class HorizontalScan final : public Detector {
 public:
  HorizontalScan(const DetectorDescriptor& d, const DetectorConfig& c)
      : Detector(d, c),
        fast_hosts_(uint32_t(c.get("fast_hosts"))),
        fast_window_(uint64_t(c.get("fast_window") * 1e9)),
        slow_hosts_(uint32_t(c.get("slow_hosts"))),
        slow_window_(uint64_t(c.get("slow_window") * 1e9)),
        table_size_(uint32_t(c.get("table_size"))) {
    policy_ = IncidentPolicy::from_config(c);
  }

  std::unique_ptr<DetectorState> make_state(int socket, uint32_t shard, uint32_t n_shards,
                                            std::string* error) const override {
    auto s = std::make_unique<State>();
    s->table = make_table<ScanKey, ScanEntry>(desc_.id, "hscan", table_size_, shard, n_shards,
                                              socket, s.get(), error);
    if (!s->table) return nullptr;
    return s;
  }

  // Lives on connection outcomes, not packets.
  PacketInterest packet_interest() const override { return PacketInterest::none(); }
  EventInterest event_interest() const override {
    return {EventInterest::bit(HostEventKind::kRefused) |
                EventInterest::bit(HostEventKind::kUnanswered),
            false};
  }

  void on_events(ShardCtx& ctx, EventSelection events, DetectorState* st) const noexcept override {
    State& s = *static_cast<State*>(st);
    for (const HostEvent& ev : events) {
      const bool refused = ev.kind == HostEventKind::kRefused;
      if (!refused &&
          !(ev.kind == HostEventKind::kUnanswered && (ev.flags & host_event_flag::kUnexpected)))
        continue;
      ScanKey k{};
      std::memcpy(k.src, ev.src.bytes, 16);
      k.family = ev.src.family;
      k.proto = ev.proto;
      k.port = ev.dport;
      ScanEntry* e = s.table->find(k);
      if (e && ev.ts > e->last_ts &&
          ev.ts - e->last_ts > (e->inc.alerts_sent ? policy_.hold_down_ns : slow_window_)) {
        // The earlier incident is over: first what it still owes.
        if (policy_.settled(e->inc, e->counted, UINT64_MAX)) emit(ctx, *e, newest(*e), 0);
        s.table->remove(e);
        e = nullptr;
      }
      bool created;
      // An incident evicted by a full table first reports what it still owes.
      e = s.table->find_or_insert(k, ev.ts, &created, [&](ScanEntry& old) {
        if (policy_.settled(old.inc, old.counted, UINT64_MAX)) emit(ctx, old, newest(old), 0);
      });
      if (!e) continue;
      if (created) e->inc.first_ts = ev.ts, e->probe_flags = ev.tcp_flags;
      if (ScanTarget* t = new_target(*e, ev)) {
        e->inc.last_ts = ev.ts;
        count(ctx, *e, *t, refused);
        s.settle.note_growth(s.table->index_of(e), e->inc, policy_, e->counted);
      }
    }
  }

  void on_tick(ShardCtx& ctx, uint64_t tick, DetectorState* st) const noexcept override {
    State& s = *static_cast<State*>(st);
    // A sweep that went quiet (judged where its outcomes are complete):
    // report the whole of it, however many updates its growth already took.
    const uint64_t now = ctx.outcomes_complete_until(tick);
    s.settle.close_settled(
        now, *s.table, policy_, [](const ScanEntry& e) { return e.counted; },
        [&](const ScanEntry& e) { emit(ctx, e, newest(e), 0); });
    if (tick != UINT64_MAX) s.table->expire(tick, std::max(slow_window_, policy_.hold_down_ns), 64);
  }

 private:
  // The slot for a target not seen before (a free one, else the oldest: its
  // count stays in `counted`); null for a target already counted.
  static ScanTarget* new_target(ScanEntry& e, const HostEvent& ev) noexcept {
    ScanTarget* slot = nullptr;
    for (ScanTarget& t : e.t) {
      if (t.addr.family == 0) {
        if (!slot || slot->addr.family != 0) slot = &t;
        continue;
      }
      if (t.addr == ev.dst) return nullptr;
      if (!slot || (slot->addr.family != 0 && t.ts < slot->ts)) slot = &t;
    }
    *slot = ScanTarget{ev.dst, false, ev.sport, ev.ts, ev.order};
    return slot;
  }

  // The newest target kept: the one an update from a tick names.
  static const ScanTarget& newest(const ScanEntry& e) noexcept {
    const ScanTarget* n = &e.t[0];
    for (const ScanTarget& t : e.t)
      if (t.addr.family != 0 && (n->addr.family == 0 || t.order > n->order)) n = &t;
    return *n;
  }

  void count(ShardCtx& ctx, ScanEntry& e, ScanTarget& t, bool failed) const noexcept {
    t.failed = failed;
    ++e.counted;
    if (failed) ++e.failed;
    uint8_t why = 0;
    if (e.inc.alerts_sent == 0) {
      if (fast_count(e) >= fast_hosts_)
        why = 1;
      else if (e.counted >= slow_hosts_)
        why = 2;
    }
    if (policy_.decide(e.inc, e.counted, why != 0, t.ts)) emit(ctx, e, t, why);
  }

  // Most counted targets whose probes fall within one fast_window.
  uint32_t fast_count(const ScanEntry& e) const noexcept {
    uint64_t ts[ScanEntry::kTargets];
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

  // After the policy counted the alert (decide or settled).
  void emit(ShardCtx& ctx, const ScanEntry& e, const ScanTarget& completing,
            uint8_t why) const noexcept {
    Alert* a = ctx.alerts->next();
    if (!a) return;
    const ScanTarget* list[ScanEntry::kTargets] = {};
    uint32_t n = 0;
    for (const ScanTarget& t : e.t)
      if (t.addr.family != 0) list[n++] = &t;
    std::sort(list, list + n,
              [](const ScanTarget* x, const ScanTarget* y) { return x->order < y->order; });
    a->ts = completing.ts;
    a->order = completing.order;
    a->detector = cfg_.index;
    a->update = policy_.update_number(e.inc);
    set_incident_key(*a, e.key, e.inc.first_ts);
    a->proto = e.key.proto;
    std::memcpy(a->src.bytes, e.key.src, 16);  // the key holds IpAddr's bytes
    a->src.family = e.key.family;
    a->dst = list[0]->addr;
    a->sport = list[0]->sport;
    a->dport = e.key.port;
    a->first_ts = e.inc.first_ts;
    a->last_ts = std::max(e.inc.last_ts, completing.ts);
    a->score = ctx.score(a->dst, e.key.proto, e.key.port, cfg_.lethality);
    a->count[0] = e.counted;
    a->count[1] = e.failed;
    a->count[2] = why;
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

  uint32_t fast_hosts_;
  uint64_t fast_window_;
  uint32_t slow_hosts_;
  uint64_t slow_window_;
  IncidentPolicy policy_;
  uint32_t table_size_;
};

std::unique_ptr<Detector> make(const DetectorDescriptor& d, const DetectorConfig& c) {
  return std::make_unique<HorizontalScan>(d, c);
}

void render(const Alert& a, AlertText& t) {
  const uint32_t hosts = a.count[0], refused = a.count[1];
  const double span = span_seconds(a.first_ts, a.last_ts);
  const std::string probe =
      a.proto == 6 ? format_tcp_flags(a.tcp_flags) + " probes" : proto_name(a.proto) + " probes";
  const std::string answer = refused == 0 ? "none answered"
                             : refused == hosts
                                 ? "all refused"
                                 : format_count(refused) + " refused, the rest unanswered";
  t.signature = "Horizontal scan: " + format_count(hosts) + " hosts on " + proto_name(a.proto) +
                "/" + std::to_string(a.dport) + " in " + format_seconds(span) + ", " +
                target_order_name(a.target_order) + ", " + probe + ", " + answer +
                (a.update ? " (update " + std::to_string(a.update) + ")" : "");
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
  e["threshold"] = a.count[2] == 1 ? "fast" : a.count[2] == 2 ? "slow" : "update";
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
    make,
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
