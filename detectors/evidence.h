// Building blocks the detectors share for "one incident, one alert, then
// updates" and for the evidence an alert carries. Plain fixed-size structs:
// they live inside BoundedTable entries, so nothing here allocates.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <rte_hash_crc.h>

#include "dataplane/packet.h"
#include "dataplane/bounded_table.h"
#include "detectors/alert.h"
#include "detectors/detector.h"

namespace harrier {

// The alert budget of one incident: a first alert when the threshold is met,
// then at most `max_updates` updates, each when the evidence has doubled
// since the last alert and at least `min_gap` of packet time has passed (so
// a scan of 1,000 ports in 10 ms is one alert, not five). Detectors with a
// SettleList also report what grew (by a fifth or more) since the last
// alert once the incident has been quiet for `min_gap`: the final picture of
// a burst. Growth takes at most max_updates - 1 of the updates: the last is
// kept for that final picture, so a sweep of any size ends with its whole
// count. After `hold_down` of silence the incident is over and the same key
// starts anew.
struct Incident {
  uint64_t first_ts = 0;
  uint64_t last_ts = 0;
  uint64_t last_alert_ts = 0;
  uint32_t alerts_sent = 0;
  uint32_t next_update_at = 0;
  uint32_t alerted_amount = 0;  // the evidence the last alert reported
  uint32_t settle_stamp = 0;    // on its detector's SettleList (0: not)
  uint64_t settle_due = 0;      // ... to be looked at then (packet time)
};

// The parameter rows every incident detector has, with its own defaults
// and words for what it remembers and what makes an update.
constexpr ParamSpec max_updates_param(double def, std::string_view help) {
  return {"max_updates", ParamType::kCount, 0, 64, def, help};
}
constexpr ParamSpec hold_down_param(double def, double max, std::string_view help) {
  return {"hold_down", ParamType::kSeconds, 1, max, def, help};
}
constexpr ParamSpec table_size_param(double def, std::string_view help) {
  return {"table_size", ParamType::kCount, 1024, 1 << 24, def, help};
}

struct IncidentPolicy {
  uint32_t max_updates = 4;
  // The detector sends a closing update (SettleList): growth keeps the last
  // of max_updates for it. A detector without one grows into all of them.
  bool reserve_closing = true;
  uint64_t hold_down_ns = 3600'000'000'000ull;
  uint64_t min_gap_ns = 2'000'000'000ull;

  // From a detector's `max_updates` and `hold_down` parameters.
  static IncidentPolicy from_config(const DetectorConfig& c, bool reserve_closing = true) {
    IncidentPolicy p;
    p.reserve_closing = reserve_closing;
    p.max_updates = uint32_t(c.get("max_updates"));
    p.hold_down_ns = uint64_t(c.get("hold_down") * 1e9);
    return p;
  }

  // Call with each new occurrence before counting it: true when the previous
  // incident of this key is over (the caller resets its evidence).
  bool starts_new(const Incident& i, uint64_t now) const noexcept {
    return i.alerts_sent > 0 && now > i.last_ts && now - i.last_ts > hold_down_ns;
  }
  // With the evidence now at `amount` and the detector's threshold met or
  // not: 0 = stay silent, 1 = first alert, 2 = an update. Advances the budget.
  int decide(Incident& i, uint32_t amount, bool threshold_met, uint64_t now) const noexcept {
    if (i.alerts_sent == 0) {
      if (!threshold_met) return 0;
      sent(i, amount, now);
      return 1;
    }
    if (!(reserve_closing ? growth_budget_left(i) : budget_left(i)) || amount < i.next_update_at ||
        now < i.last_alert_ts + min_gap_ns)
      return 0;
    sent(i, amount, now);
    return 2;
  }
  // Without packet time: updates on doubling alone (no minimum gap).
  int decide(Incident& i, uint32_t amount, bool threshold_met) const noexcept {
    return decide(i, amount, threshold_met, UINT64_MAX - min_gap_ns);
  }
  // From a tick: true when the incident went quiet with evidence its last
  // alert did not report (then the caller sends that update).
  // Growth by less than a fifth, or by one (a 3-host sweep that ended at
  // 4), is not worth another alert: the last one already told its size.
  bool settled(Incident& i, uint32_t amount, uint64_t now) const noexcept {
    if (i.alerts_sent == 0 || !budget_left(i) || !grew_enough(i, amount)) return false;
    if (now != UINT64_MAX && (now < i.last_ts + min_gap_ns || now < i.last_alert_ts + min_gap_ns))
      return false;
    sent(i, amount, now == UINT64_MAX ? i.last_ts : now);
    return true;
  }
  // Room for another alert (the closing one included) ...
  bool budget_left(const Incident& i) const noexcept { return i.alerts_sent <= max_updates; }
  // ... and for an update on growth, which leaves the last for the closing one.
  bool growth_budget_left(const Incident& i) const noexcept { return i.alerts_sent < max_updates; }
  // When an incident that grew after its last alert may have gone quiet.
  uint64_t settle_due(const Incident& i) const noexcept {
    return std::max(i.last_ts, i.last_alert_ts) + min_gap_ns;
  }
  // For a SettleList visit that did not settle: when to look again (0: not
  // until it grows, which lists it again).
  uint64_t look_again(const Incident& i, uint32_t amount) const noexcept {
    return grew_enough(i, amount) && budget_left(i) ? settle_due(i) : 0;
  }
  static bool grew_enough(const Incident& i, uint32_t amount) noexcept {
    return amount >= i.alerted_amount + 2 && uint64_t(amount) * 5 >= uint64_t(i.alerted_amount) * 6;
  }
  // Counts an update the detector decided on by its own rule.
  static void record(Incident& i, uint32_t amount, uint64_t now) noexcept { sent(i, amount, now); }
  uint8_t update_number(const Incident& i) const noexcept {
    return uint8_t(std::min<uint32_t>(255, i.alerts_sent - 1));
  }

 private:
  static void sent(Incident& i, uint32_t amount, uint64_t now) noexcept {
    ++i.alerts_sent;
    i.alerted_amount = amount;
    i.last_alert_ts = now;
    i.next_update_at = std::max<uint32_t>(amount * 2, amount + 1);
  }
};

// The incidents of one detector shard to be looked at again at a packet
// time (whether a burst that grew after its alert went quiet: see
// IncidentPolicy::settled). A min-heap on that time, so a tick looks only
// at what is due, however many are listed; one record per incident (a
// later time moves it: the record is pushed again when it comes up). Holds
// table indices with a stamp, so a record whose entry was evicted and
// reused is recognised and dropped. Fixed capacity, set at make_state: the
// packet path never allocates; an incident that finds it full is counted
// and gets no closing update.
class SettleList {
 public:
  explicit SettleList(uint32_t capacity) { heap_.reserve(capacity); }

  // Looks at incident `index` at packet time `due` (the latest call wins).
  // False when the list is full (counted): the caller acts now instead.
  bool add(uint32_t index, Incident& i, uint64_t due) noexcept {
    if (i.settle_stamp) {
      i.settle_due = due;
      return true;
    }
    if (heap_.size() == heap_.capacity()) {
      overflow_.add();
      return false;
    }
    i.settle_stamp = next_stamp();
    i.settle_due = due;
    push({due, index, i.settle_stamp});
    return true;
  }
  // After an incident's evidence grew: an alerted one that now holds more
  // than its last alert said is looked at once it may have gone quiet.
  void note_growth(uint32_t index, Incident& i, const IncidentPolicy& policy,
                   uint32_t amount) noexcept {
    if (i.alerts_sent && amount > i.alerted_amount) add(index, i, policy.settle_due(i));
  }
  // Calls visit(index) for each incident due by `now` (every one with
  // UINT64_MAX); visit returns when to look at it again (past `now`), or 0.
  template <typename IncidentOf, typename Visit>
  void sweep(uint64_t now, IncidentOf&& incident, Visit&& visit) noexcept {
    while (!heap_.empty() && heap_.front().due <= now) {
      std::pop_heap(heap_.begin(), heap_.end(), later);
      const Record r = heap_.back();
      heap_.pop_back();
      Incident& i = incident(r.index);
      if (i.settle_stamp != r.stamp) continue;  // evicted and reused, or restarted
      if (i.settle_due > now) {                 // moved later since it was pushed
        push({i.settle_due, r.index, r.stamp});
        continue;
      }
      i.settle_stamp = 0;
      const uint64_t again = visit(r.index);
      if (again > now && again != UINT64_MAX) add(r.index, i, again);
    }
  }
  uint64_t overflow() const noexcept { return overflow_.get(); }

 private:
  struct Record {
    uint64_t due;
    uint32_t index;
    uint32_t stamp;
  };
  static bool later(const Record& a, const Record& b) noexcept { return a.due > b.due; }
  void push(const Record& r) noexcept {
    heap_.push_back(r);
    std::push_heap(heap_.begin(), heap_.end(), later);
  }
  uint32_t next_stamp() noexcept { return ++stamp_ ? stamp_ : ++stamp_; }  // never 0

  std::vector<Record> heap_;
  uint32_t stamp_ = 0;
  Peg overflow_;
};

// The counter rows of a detector's incident table and its SettleList (the
// kit's, and those of detectors with the same pair), and their values.
inline constexpr PegInfo kSettlePegs[] = {
    {"settle_overflow", PegKind::kSum,
     "incidents that found the settle list full (their deadline or closing update lost)"},
};
inline std::vector<PegInfo> incident_table_pegs() {
  std::vector<PegInfo> rows(std::begin(kBoundedTablePegs), std::end(kBoundedTablePegs));
  rows.insert(rows.end(), std::begin(kSettlePegs), std::end(kSettlePegs));
  return rows;
}
inline constexpr size_t kIncidentTablePegs = std::size(kBoundedTablePegs) + std::size(kSettlePegs);
template <typename Table>
void add_incident_table_pegs(const Table& table, const SettleList& settle, uint64_t* out) noexcept {
  table.add_pegs(out);
  out[std::size(kBoundedTablePegs)] += settle.overflow();
}

// Distinct targets in order of first appearance: the first N exactly (with
// per-target hit counts), the total beyond them counted, and whether they
// came in ascending or descending address order.
template <int N>
struct TargetList {
  IpAddr addr[N];
  uint32_t hits[N]{};
  uint64_t first_ts[N]{};  // packet time of each listed target's first hit
  uint32_t n = 0;          // listed
  uint32_t total = 0;      // distinct as far as the list can tell (exact while total <= N)
  bool ascending = true, descending = true;

  int find(const IpAddr& a) const noexcept {
    for (uint32_t i = 0; i < n; ++i)
      if (addr[i] == a) return int(i);
    return -1;
  }
  // Counts one hit on `a`; returns true when `a` is a new target.
  bool add(const IpAddr& a, uint64_t ts) noexcept {
    const int i = find(a);
    if (i >= 0) {
      ++hits[i];
      return false;
    }
    if (n > 0) {
      const IpAddr& last = addr[n - 1];
      ascending = ascending && last < a;
      descending = descending && a < last;
    }
    ++total;
    if (n < uint32_t(N)) {
      addr[n] = a;
      hits[n] = 1;
      first_ts[n] = ts;
      ++n;
    }
    return true;
  }
  // Listed targets first hit at or after `since`.
  uint32_t count_since(uint64_t since) const noexcept {
    uint32_t c = 0;
    for (uint32_t i = 0; i < n; ++i)
      c += first_ts[i] >= since;
    return c;
  }
  TargetOrder order() const noexcept {
    return total < 2    ? TargetOrder::kSingle
           : ascending  ? TargetOrder::kAscending
           : descending ? TargetOrder::kDescending
                        : TargetOrder::kRandom;
  }
  // Copies the list into an alert (targets, n_targets, order).
  void fill(Alert& a) const noexcept {
    for (uint32_t i = 0; i < std::min<uint32_t>(n, Alert::kMaxTargets); ++i)
      a.targets[i] = addr[i];
    a.n_targets = total;
    a.target_order = order();
  }
};

// Distinct 16-bit values (ports) in 1,024 bits: exact while each value has
// its own bit (ports below 1,024 always do), a linear-counting estimate
// (Whang et al.) otherwise, good to a few percent into the thousands.
struct PortCounter {
  uint64_t bits[16]{};
  bool hashed = false;  // some value shares a bit: estimate rather than count
  void add(uint16_t v) noexcept {
    hashed = hashed || v >= 1024;
    const uint32_t b = (v < 1024 ? v : uint32_t(v) * 2654435761u >> 22) & 1023;
    bits[b / 64] |= uint64_t(1) << (b % 64);
  }
  uint32_t estimate() const noexcept {
    uint32_t ones = 0;
    for (uint64_t w : bits)
      ones += uint32_t(__builtin_popcountll(w));
    if (!hashed) return ones;
    if (ones == 1024) return 1024 * 7;
    const double n = -1024.0 * std::log(double(1024 - ones) / 1024.0);
    return std::max(ones, uint32_t(n + 0.5));
  }
};

// first..last in seconds; 0 when packet time ran backwards (captures read
// one after another need not be in time order).
inline double span_seconds(uint64_t first_ts, uint64_t last_ts) noexcept {
  return last_ts > first_ts ? double(last_ts - first_ts) / 1e9 : 0.0;
}

// Fills the fields every alert has from an event-like source.
inline void alert_header(Alert& a, uint16_t detector, uint64_t ts, uint64_t order, uint8_t proto,
                         const IpAddr& src, const IpAddr& dst, uint16_t sport,
                         uint16_t dport) noexcept {
  a.ts = ts;
  a.order = order;
  a.detector = detector;
  a.proto = proto;
  a.src = src;
  a.dst = dst;
  a.sport = sport;
  a.dport = dport;
}

// Marks `a` as an alert of the detector incident keyed `k` that began at
// `first_ts`: equal on its first alert and every update, so the fusion stage
// tells an incident's updates from a new incident (Alert::incident_key).
template <typename Key>
inline void set_incident_key(Alert& a, const Key& k, uint64_t first_ts) noexcept {
  static_assert(alignof(Key) >= 8, "rte_hash_crc loads 8 bytes at a time");
  const uint32_t lo = rte_hash_crc(&k, sizeof k, uint32_t(first_ts));
  const uint32_t hi = rte_hash_crc(&k, sizeof k, uint32_t(first_ts >> 32) ^ 0x9E3779B9u);
  a.incident_key = (uint64_t(hi) << 32 | lo) | 1;  // never 0 (0: no incident of its own)
}

// A key made of up to two addresses and a small discriminator, for detector
// tables. Zero-initialise before filling: the bytes are hashed whole.
struct alignas(8) PairKey {  // aligned: rte_hash_crc loads 8 bytes at a time
  uint8_t a[16];
  uint8_t b[16];
  uint8_t fam_a, fam_b, proto, kind;
  uint16_t port;
  uint16_t pad;
  static PairKey make(const IpAddr& x, const IpAddr* y, uint8_t proto, uint16_t port,
                      uint8_t kind = 0) noexcept {
    PairKey k{};
    std::copy(x.bytes, x.bytes + 16, k.a);
    k.fam_a = x.family;
    if (y) {
      std::copy(y->bytes, y->bytes + 16, k.b);
      k.fam_b = y->family;
    }
    k.proto = proto;
    k.port = port;
    k.kind = kind;
    return k;
  }
  IpAddr first() const noexcept {
    IpAddr r;
    std::copy(a, a + 16, r.bytes);
    r.family = fam_a;
    return r;
  }
  IpAddr second() const noexcept {
    IpAddr r;
    std::copy(b, b + 16, r.bytes);
    r.family = fam_b;
    return r;
  }
};
static_assert(sizeof(PairKey) == 40);

// The fields every incident-table entry starts with: what BoundedTable needs
// (key, last packet time, LRU links) and the incident's alert budget.
// Detectors derive their Entry from it and add their evidence.
struct IncidentEntry {
  PairKey key;
  uint64_t last_ts;
  uint32_t lru_prev, lru_next;
  Incident inc;
  // A full table passes over incidents that have alerted before it evicts
  // them (BoundedTable::find_or_insert): a flood of one-probe keys must not
  // cut a reported scan short.
  bool kept() const noexcept { return inc.alerts_sent > 0; }
};

// Starts an entry over in place (a new incident for the same key), keeping
// what the table owns: key, LRU links and time.
template <typename Entry>
void restart_entry(Entry& e) noexcept {
  const auto key = e.key;
  const uint32_t prev = e.lru_prev, next = e.lru_next;
  const uint64_t ts = e.last_ts;
  e = Entry{};
  e.key = key;
  e.lru_prev = prev;
  e.lru_next = next;
  e.last_ts = ts;
}

// A detector table for one shard: `total` entries shared among `n_shards`
// (at least 256 each). `tag` (<= 8 chars) names it in DPDK's hash registry;
// `owner` keeps names unique when several pipelines share a process (tests).
template <typename Key, typename Entry>
std::unique_ptr<BoundedTable<Key, Entry>> make_table(std::string_view detector, const char* tag,
                                                     uint32_t total, uint32_t shard,
                                                     uint32_t n_shards, int socket,
                                                     const void* owner, std::string* error,
                                                     std::string_view param = "table_size") {
  const uint32_t cap = std::max<uint32_t>(256, total / std::max<uint32_t>(1, n_shards));
  const std::string name = std::string(tag) + std::to_string(shard) + "_" +
                           std::to_string(reinterpret_cast<uintptr_t>(owner) & 0xFFFFFF);
  auto t = BoundedTable<Key, Entry>::create(name, cap, socket, error);
  if (t)
    t->set_owner(detector, param);
  else
    *error = std::string(detector) + ": " + *error + "; lower detectors." + std::string(detector) +
             "." + std::string(param) + " or give DPDK more memory";
  return t;
}

}  // namespace harrier
