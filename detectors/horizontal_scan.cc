// horizontal-scan (seed detect 7; "Analyze This" SunRPC high-port sweep): one
// source probing the same port on many home hosts. Default: >= 3 hosts within
// 2 s, or >= 20 hosts within 24 h.
//
// What counts as a target: an attempt on a (host, proto, port) the inventory
// does not list as served, unless the host answers it within `answer_grace`
// (then it evidently serves it); or any attempt the host refuses (RST, ICMP
// unreachable). So a client talking to several servers that do serve the port
// stays quiet, with or without an inventory.
//
// Host-behaviour: the flow shards turn connection attempts into HostEvents
// routed by source address, so every attempt of one source lands here, on one
// shard, in packet order, whatever the worker count.
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
    {"answer_grace", ParamType::kSeconds, 0.001, 60, 3,
     "seconds a target has to answer before an unexpected attempt counts"},
    {"max_updates", ParamType::kCount, 0, 64, 4,
     "update alerts per incident (at 2x, 4x, ... hosts)"},
    {"hold_down", ParamType::kSeconds, 1, 604800, 3600,
     "seconds of silence after which the same source and port start a new incident"},
    {"table_size", ParamType::kCount, 1024, 1 << 24, 65536,
     "(source, port) pairs remembered, all shards together"},
};

struct ScanKey {
  uint8_t src[16];
  uint8_t family;
  uint8_t proto;
  uint16_t port;
  uint32_t pad;
};
static_assert(sizeof(ScanKey) == 24);

enum class TargetState : uint8_t { kEmpty = 0, kPending, kServed, kCounted, kCancelled };

struct ScanTarget {
  IpAddr addr;
  TargetState state = TargetState::kEmpty;
  bool failed = false;
  uint16_t flags = 0;
  uint16_t sport = 0;
  uint64_t ts = 0;
  uint64_t order = 0;
};

struct ScanEntry {
  static constexpr int kTargets = 32;
  ScanKey key;
  uint64_t last_ts;
  uint32_t lru_prev, lru_next;
  uint64_t first_ts;
  uint32_t counted, failed, n_pending;
  uint32_t alerts_sent, next_update_at;
  uint16_t probe_flags;
  bool in_pending_list;
  uint64_t next_due;   // earliest time a pending target's grace runs out
  uint64_t sched_due;  // the due time of its live deadline on the heap
  ScanTarget t[kTargets];
};

using ScanTable = BoundedTable<ScanKey, ScanEntry>;

// When an entry's earliest pending target runs out of grace. An entry has
// at most one live deadline (ScanEntry::in_pending_list); one left by an
// entry that was evicted is recognised by its key and skipped.
struct Deadline {
  uint64_t due;
  uint32_t index;  // table slot
  ScanKey key;
};

struct State final : DetectorState {
  std::unique_ptr<ScanTable> table;
  // A min-heap on `due`: a tick pops what is due and looks at nothing else
  // (it used to walk every entry awaiting an answer, every batch). Room for
  // a deadline per table entry and as many stale ones, reserved up front.
  std::vector<Deadline> deadlines;
};

bool later(const Deadline& a, const Deadline& b) noexcept {
  return a.due > b.due;
}

class HorizontalScan final : public Detector {
 public:
  HorizontalScan(const DetectorDescriptor& d, const DetectorConfig& c)
      : Detector(d, c),
        fast_hosts_(uint32_t(c.get("fast_hosts"))),
        fast_window_(uint64_t(c.get("fast_window") * 1e9)),
        slow_hosts_(uint32_t(c.get("slow_hosts"))),
        slow_window_(uint64_t(c.get("slow_window") * 1e9)),
        grace_(uint64_t(c.get("answer_grace") * 1e9)),
        max_updates_(uint32_t(c.get("max_updates"))),
        hold_down_(uint64_t(c.get("hold_down") * 1e9)),
        table_size_(uint32_t(c.get("table_size"))) {}

  std::unique_ptr<DetectorState> make_state(int socket, uint32_t shard, uint32_t n_shards,
                                            std::string* error) const override {
    auto s = std::make_unique<State>();
    s->table = make_table<ScanKey, ScanEntry>(desc_.id, "hscan", table_size_, shard, n_shards,
                                              socket, s.get(), error);
    if (!s->table) return nullptr;
    s->deadlines.reserve(2 * size_t(s->table->capacity()));
    return s;
  }

  void on_events(ShardCtx& ctx, std::span<const HostEvent> events,
                 DetectorState* st) const noexcept override {
    State& s = *static_cast<State*>(st);
    for (const HostEvent& ev : events) {
      ScanKey k{};
      std::memcpy(k.src, ev.src.bytes, 16);
      k.family = ev.src.family;
      k.proto = ev.proto;
      k.port = ev.dport;
      if (ev.kind == HostEventKind::kProbe) {
        bool created;
        ScanEntry* e = s.table->find(k);
        if (e && ev.ts > e->last_ts &&
            ev.ts - e->last_ts > (e->alerts_sent ? hold_down_ : slow_window_)) {
          s.table->remove(e);  // the earlier incident is over
          e = nullptr;
        }
        e = s.table->find_or_insert(k, ev.ts, &created);
        if (!e) continue;
        if (created) e->first_ts = ev.ts, e->probe_flags = ev.tcp_flags;
        add_target(s, *e, ev);
      } else {
        ScanEntry* e = s.table->find(k);
        if (!e) continue;
        ScanTarget* t = find_target(*e, ev.dst);
        if (!t) continue;
        s.table->touch(e, ev.ts);
        if (ev.kind == HostEventKind::kAnswered) {
          if (t->state == TargetState::kPending) --e->n_pending;
          if (t->state == TargetState::kPending || t->state == TargetState::kServed)
            t->state = TargetState::kCancelled;
        } else if (t->state == TargetState::kPending || t->state == TargetState::kServed) {
          if (t->state == TargetState::kPending) --e->n_pending;
          count(ctx, *e, *t, true);
        }
      }
    }
  }

  void on_tick(ShardCtx& ctx, uint64_t now, DetectorState* st) const noexcept override {
    State& s = *static_cast<State*>(st);
    auto& h = s.deadlines;
    while (!h.empty() && (now == UINT64_MAX || h.front().due <= now)) {
      std::pop_heap(h.begin(), h.end(), later);
      const Deadline d = h.back();
      h.pop_back();
      ScanEntry& e = *s.table->at(d.index);
      if (!live(e, d)) continue;
      e.in_pending_list = false;
      if (e.n_pending == 0) continue;
      resolve_due(ctx, e, now);
      if (e.n_pending > 0) schedule(s, e);  // the next target's grace
    }
    if (now != UINT64_MAX) s.table->expire(now, std::max(slow_window_, hold_down_), 64);
  }

 private:
  // A deadline still stands for its entry: not evicted (slot reused by
  // another key), not resolved, not replaced by an earlier one.
  static bool live(const ScanEntry& e, const Deadline& d) noexcept {
    return e.in_pending_list && e.sched_due == d.due &&
           std::memcmp(&e.key, &d.key, sizeof d.key) == 0;
  }

  // Puts the entry's earliest deadline on the heap. The heap has room for
  // every entry's and as many stale ones; past that the stale ones go.
  static void schedule(State& s, ScanEntry& e) noexcept {
    auto& h = s.deadlines;
    if (h.size() == h.capacity()) {
      std::erase_if(h, [&](const Deadline& d) { return !live(*s.table->at(d.index), d); });
      std::make_heap(h.begin(), h.end(), later);
    }
    e.in_pending_list = true;
    e.sched_due = e.next_due;
    h.push_back({e.next_due, s.table->index_of(&e), e.key});
    std::push_heap(h.begin(), h.end(), later);
  }

  static ScanTarget* find_target(ScanEntry& e, const IpAddr& a) {
    for (ScanTarget& t : e.t)
      if (t.state != TargetState::kEmpty && t.addr == a) return &t;
    return nullptr;
  }

  void add_target(State& s, ScanEntry& e, const HostEvent& ev) const noexcept {
    if (find_target(e, ev.dst)) return;  // not a new target
    // A free slot, else the oldest settled one (its count stays in `counted`).
    ScanTarget* slot = nullptr;
    for (ScanTarget& t : e.t) {
      if (t.state == TargetState::kEmpty) {
        slot = &t;
        break;
      }
      if (t.state != TargetState::kPending && (!slot || t.ts < slot->ts)) slot = &t;
    }
    if (!slot) return;  // every slot awaits an answer: a burst this large is counted already
    *slot =
        ScanTarget{ev.dst, TargetState::kServed, false, ev.tcp_flags, ev.sport, ev.ts, ev.order};
    if (!(ev.flags & host_event_flag::kUnexpected)) return;  // served: counts only if refused
    slot->state = TargetState::kPending;
    if (e.n_pending == 0 || ev.ts + grace_ < e.next_due) e.next_due = ev.ts + grace_;
    ++e.n_pending;
    // Its deadline is on the heap already when an earlier target waits: that
    // one is due first, and resolving it schedules the next. (Packet time
    // can run backwards between files: an earlier one replaces it.)
    if (!e.in_pending_list || e.next_due < e.sched_due) schedule(s, e);
  }

  void resolve_due(ShardCtx& ctx, ScanEntry& e, uint64_t now) const noexcept {
    // Oldest first, so the alert names the probe that really completed it.
    for (;;) {
      ScanTarget* due = nullptr;
      e.next_due = UINT64_MAX;
      for (ScanTarget& t : e.t) {
        if (t.state != TargetState::kPending) continue;
        if (now == UINT64_MAX || t.ts + grace_ <= now) {
          if (!due || t.order < due->order) due = &t;
        } else {
          e.next_due = std::min(e.next_due, t.ts + grace_);
        }
      }
      if (!due) return;
      --e.n_pending;
      count(ctx, e, *due, false);
    }
  }

  void count(ShardCtx& ctx, ScanEntry& e, ScanTarget& t, bool failed) const noexcept {
    t.state = TargetState::kCounted;
    t.failed = failed;
    ++e.counted;
    if (failed) ++e.failed;
    if (e.alerts_sent == 0) {
      uint8_t why = 0;
      if (fast_count(e) >= fast_hosts_)
        why = 1;
      else if (e.counted >= slow_hosts_)
        why = 2;
      if (!why) return;
      emit(ctx, e, t, why);
      e.next_update_at = e.counted * 2;
    } else if (e.alerts_sent <= max_updates_ && e.counted >= e.next_update_at) {
      emit(ctx, e, t, 0);
      e.next_update_at = e.counted * 2;
    }
  }

  // Most counted targets whose probes fall within one fast_window.
  uint32_t fast_count(const ScanEntry& e) const noexcept {
    uint64_t ts[ScanEntry::kTargets];
    uint32_t n = 0;
    for (const ScanTarget& t : e.t)
      if (t.state == TargetState::kCounted) ts[n++] = t.ts;
    std::sort(ts, ts + n);
    uint32_t best = 0;
    for (uint32_t lo = 0, hi = 0; hi < n; ++hi) {
      while (ts[hi] - ts[lo] > fast_window_)
        ++lo;
      best = std::max(best, hi - lo + 1);
    }
    return best;
  }

  void emit(ShardCtx& ctx, ScanEntry& e, const ScanTarget& completing, uint8_t why) const noexcept {
    Alert* a = ctx.alerts->next();
    ++e.alerts_sent;
    if (!a) return;
    const ScanTarget* list[ScanEntry::kTargets] = {};
    uint32_t n = 0;
    for (const ScanTarget& t : e.t)
      if (t.state == TargetState::kCounted) list[n++] = &t;
    std::sort(list, list + n,
              [](const ScanTarget* x, const ScanTarget* y) { return x->order < y->order; });
    a->ts = completing.ts;
    a->order = completing.order;
    a->detector = cfg_.index;
    a->update = uint8_t(std::min<uint32_t>(255, e.alerts_sent - 1));
    a->proto = e.key.proto;
    std::memcpy(a->src.bytes, e.key.src, 16);  // the key holds IpAddr's bytes
    a->src.family = e.key.family;
    a->dst = list[0]->addr;
    a->sport = list[0]->sport;
    a->dport = e.key.port;
    a->first_ts = list[0]->ts;
    a->last_ts = list[n - 1]->ts;
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
  uint64_t grace_;
  uint32_t max_updates_;
  uint64_t hold_down_;
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
     "answered for the service's known weaknesses, and block or report the source."}};

}  // namespace harrier
