// Building blocks the detectors share for "one incident, one alert, then
// updates" and for the evidence an alert carries. Plain fixed-size structs:
// they live inside BoundedTable entries, so nothing here allocates.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>

#include "dataplane/packet.h"
#include "dataplane/bounded_table.h"
#include "detectors/alert.h"

namespace harrier {

// The alert budget of one incident: a first alert when the threshold is met,
// then at most `max_updates` updates, each when the evidence has doubled
// since the last alert. After `hold_down` of silence the incident is over and
// the same key starts a new one.
struct Incident {
  uint64_t first_ts = 0;
  uint64_t last_ts = 0;
  uint32_t alerts_sent = 0;
  uint32_t next_update_at = 0;
};

struct IncidentPolicy {
  uint32_t max_updates = 4;
  uint64_t hold_down_ns = 3600'000'000'000ull;

  // Call with each new occurrence before counting it: true when the previous
  // incident of this key is over (the caller resets its evidence).
  bool starts_new(const Incident& i, uint64_t now) const noexcept {
    return i.alerts_sent > 0 && now > i.last_ts && now - i.last_ts > hold_down_ns;
  }
  // With the evidence now at `amount` and the detector's threshold met or
  // not: 0 = stay silent, 1 = first alert, 2 = an update. Advances the budget.
  int decide(Incident& i, uint32_t amount, bool threshold_met) const noexcept {
    if (i.alerts_sent == 0) {
      if (!threshold_met) return 0;
      i.alerts_sent = 1;
      i.next_update_at = std::max<uint32_t>(amount * 2, amount + 1);
      return 1;
    }
    if (i.alerts_sent > max_updates || amount < i.next_update_at) return 0;
    ++i.alerts_sent;
    i.next_update_at = std::max<uint32_t>(amount * 2, amount + 1);
    return 2;
  }
  uint8_t update_number(const Incident& i) const noexcept {
    return uint8_t(std::min<uint32_t>(255, i.alerts_sent - 1));
  }
};

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

// A key made of up to two addresses and a small discriminator, for detector
// tables. Zero-initialise before filling: the bytes are hashed whole.
struct PairKey {
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
std::unique_ptr<BoundedTable<Key, Entry>> make_table(const char* tag, uint32_t total,
                                                     uint32_t shard, uint32_t n_shards, int socket,
                                                     const void* owner, std::string* error) {
  const uint32_t cap = std::max<uint32_t>(256, total / std::max<uint32_t>(1, n_shards));
  const std::string name = std::string(tag) + std::to_string(shard) + "_" +
                           std::to_string(reinterpret_cast<uintptr_t>(owner) & 0xFFFFFF);
  return BoundedTable<Key, Entry>::create(name, cap, socket, error);
}

}  // namespace harrier
