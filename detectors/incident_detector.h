// The detector kit: what every "one table of incidents" host detector
// shares, written once. A detector built on it holds only what is its own:
// its key, what it counts per incident (its Entry), when the threshold is
// met, and what its alert says.
//
//   class SnmpPublic final : public IncidentDetector<SnmpPublic, Entry> {
//    public:  // called by the kit
//     uint32_t amount(const Entry& e) const;               // the evidence updates grow with
//     void fill(ShardCtx&, Alert* a, const Entry& e) const;  // the alert's own fields
//     void on_events(...) { for each event: Entry* e = incident(ctx, s, key, ev);
//                           count it into *e; grew(ctx, s, *e, threshold_met, ev); }
//   };
//
// The kit owns the table (sized by `table_size`, split among the shards),
// the incident policy (`max_updates`, `hold_down`), the restart of an
// incident after its hold-down, the eviction of the least recent incident
// (which first reports what it owes), the closing update of an incident
// that went quiet (SettleList), expiry, and the fields every alert has
// (header, update number, incident key, first and last time).
#pragma once

#include <iterator>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "dataplane/bounded_table.h"
#include "detectors/detector.h"
#include "detectors/evidence.h"

namespace harrier {

// An incident entry with what the kit needs besides IncidentEntry's: the
// packet number of its latest event (an update sent from a tick carries it).
struct KitEntry : IncidentEntry {
  uint64_t last_order;
};

// What a detector keeps per shard besides its incidents (by default
// nothing), and the counters it adds to the kit's.
struct NoStateExtra {
  static std::span<const PegInfo> extra_pegs() { return {}; }
  void add_extra_pegs(uint64_t*) const noexcept {}
};

template <typename Self, typename Entry, typename Extra = NoStateExtra>
class IncidentDetector : public Detector {
 public:
  using Table = BoundedTable<PairKey, Entry>;
  struct State final : DetectorState, Extra {
    std::unique_ptr<Table> table;
    SettleList settle{4096};
    void add_pegs(uint64_t* out) const noexcept override {
      add_incident_table_pegs(*table, settle, out);
      Extra::add_extra_pegs(out + kIncidentTablePegs);
    }
  };

  // `tag`: the table's name in DPDK's hash registry (<= 8 chars).
  // `closing_update`: an incident that went quiet (or leaves the table)
  // reports what grew since its last alert (see IncidentPolicy).
  IncidentDetector(const DetectorDescriptor& d, const DetectorConfig& c, const char* tag,
                   bool closing_update = true)
      : Detector(d, c),
        policy_(IncidentPolicy::from_config(c, closing_update)),
        table_size_(uint32_t(c.get("table_size"))),
        tag_(tag) {
    pegs_ = incident_table_pegs();
    for (const PegInfo& p : Extra::extra_pegs())
      pegs_.push_back(p);
  }

  std::span<const PegInfo> pegs() const override { return pegs_; }

  std::unique_ptr<DetectorState> make_state(int socket, uint32_t shard, uint32_t n_shards,
                                            std::string* error) const override {
    auto s = std::make_unique<State>();
    s->table = make_table<PairKey, Entry>(desc_.id, tag_, table_size_, shard, n_shards, socket,
                                          s.get(), error);
    if (!s->table || !self().make_extra(*s, socket, shard, n_shards, error)) return nullptr;
    return s;
  }

  // Incidents due on the SettleList are looked at (Self::settle; by
  // default, one that went quiet reports what grew since its last alert,
  // judged at Self::quiet_clock); idle ones are forgotten after the
  // hold-down (Self::idle_ns may say more).
  void on_tick(ShardCtx& ctx, uint64_t now, DetectorState* st) const noexcept override {
    State& s = state(st);
    const uint64_t quiet = self().quiet_clock(ctx, now);
    s.settle.sweep(
        quiet, [&](uint32_t i) -> Incident& { return s.table->at(i)->inc; },
        [&](uint32_t i) -> uint64_t { return self().settle(ctx, quiet, *s.table->at(i)); });
    if (now != UINT64_MAX) s.table->expire(now, self().idle_ns(), 64);
  }

 protected:
  static State& state(DetectorState* st) noexcept { return *static_cast<State*>(st); }
  const Self& self() const noexcept { return static_cast<const Self&>(*this); }
  uint64_t idle_ns() const noexcept { return policy_.hold_down_ns; }
  // Packet time up to which an incident's quiet can be judged. A detector
  // of connection outcomes says ctx.outcomes_complete_until(now): later
  // attempts may still be waiting for their answer.
  uint64_t quiet_clock(const ShardCtx&, uint64_t now) const noexcept { return now; }
  // Allocates the State's Extra (false, with *error set, on failure).
  bool make_extra(State&, int, uint32_t, uint32_t, std::string*) const { return true; }
  // A listed incident whose time came (`now` on the quiet clock): sends
  // what it owes; returns when to look again (0: once it grows).
  uint64_t settle(ShardCtx& ctx, uint64_t now, Entry& e) const noexcept {
    const uint32_t amount = self().amount(e);
    if (!policy_.settled(e.inc, amount, now)) return policy_.look_again(e.inc, amount);
    emit(ctx, e, e.inc.last_ts, e.last_order);
    return 0;
  }
  // Whether an event at `ts` finds the key's incident over (its hold-down
  // passed); a detector may also end one that never alerted.
  bool starts_new(const Entry& e, uint64_t ts) const noexcept {
    return policy_.starts_new(e.inc, ts);
  }

  // The incident of `key` for an event at (ts, order): found, or made (a
  // full table first lets its least recent incident report what it owes),
  // or started anew when its hold-down passed. `*fresh` says it has no
  // evidence yet (the caller records the first event's fields). With
  // `activity` false the event's time is not yet the incident's latest
  // (the caller sets last_ts and last_order once it knows the event counts).
  // nullptr when the table has no room.
  Entry* incident(ShardCtx& ctx, State& s, const PairKey& key, uint64_t ts, uint64_t order,
                  bool* fresh, bool activity = true) const noexcept {
    bool created;
    Entry* e =
        s.table->find_or_insert(key, ts, &created, [&](Entry& old) { report_owed(ctx, old); });
    if (!e) return nullptr;
    if (!created && self().starts_new(*e, ts)) {
      report_owed(ctx, *e);  // the earlier incident is over
      restart_entry(*e), created = true;
    }
    *fresh = created || e->inc.first_ts == 0;
    if (*fresh) e->inc.first_ts = ts;
    if (activity || *fresh) {
      e->inc.last_ts = std::max(e->inc.last_ts, ts);
      e->last_order = order;
    }
    return e;
  }

  // After counting an event into `e`: the first alert once `threshold_met`,
  // then updates as the evidence grows, and a closing one once quiet.
  // `news`: the event is worth an update of its own (a first Set), budget
  // permitting, however little the evidence grew.
  void grew(ShardCtx& ctx, State& s, Entry& e, bool threshold_met, uint64_t ts, uint64_t order,
            bool news = false) const noexcept {
    const uint32_t amount = self().amount(e);
    bool send = policy_.decide(e.inc, amount, threshold_met, ts) != 0;
    if (!send && news && e.inc.alerts_sent && policy_.growth_budget_left(e.inc)) {
      IncidentPolicy::record(e.inc, amount, ts);
      send = true;
    }
    if (send) emit(ctx, e, ts, order);
    if (policy_.reserve_closing)
      s.settle.note_growth(s.table->index_of(&e), e.inc, policy_, amount);
  }

  // An incident that ends (restarted, or evicted by a full table) first
  // reports what grew since its last alert, in a detector that does so.
  void report_owed(ShardCtx& ctx, Entry& e) const noexcept {
    if (policy_.reserve_closing && policy_.settled(e.inc, self().amount(e), UINT64_MAX))
      emit(ctx, e, e.inc.last_ts, e.last_order);
  }

  // An alert of `e` at (ts, order), after the policy counted it.
  void emit(ShardCtx& ctx, const Entry& e, uint64_t ts, uint64_t order) const noexcept {
    Alert* a = ctx.alerts->next();
    if (!a) return;
    a->ts = ts;
    a->order = order;
    a->detector = cfg_.index;
    a->src = e.key.first();
    a->first_ts = e.inc.first_ts;
    a->last_ts = e.inc.last_ts;
    a->update = policy_.update_number(e.inc);
    set_incident_key(*a, e.key, e.inc.first_ts);
    self().fill(ctx, a, e);  // proto, dst, ports, score and the detector's own evidence
  }

  IncidentPolicy policy_;
  uint32_t table_size_;
  const char* tag_;
  std::vector<PegInfo> pegs_;
};

}  // namespace harrier
