// A fixed-budget keyed table for per-shard detector state: rte_hash for the
// index (its data: the entry's slot), an entry array on the shard's socket, a
// free list of slots, and an LRU list so that when the budget is spent the
// least recently touched entry makes room (counted).
// Entry must have members `key` (of type Key), `last_ts`, `lru_prev`, `lru_next`.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>

#include "dataplane/lru_list.h"
#include "dataplane/pegs.h"

namespace harrier {

// How full a table is and how often it had to evict, for the end-of-run
// report: a table that evicts is too small for the traffic it sees.
struct TableStats {
  std::string owner;  // the detector it belongs to
  std::string param;  // the detector parameter that sizes it
  std::string name;
  uint32_t size = 0, capacity = 0;
  uint64_t evictions = 0, insert_failures = 0;
  uint64_t kept_evictions = 0;  // of them, incidents that had alerted (their last update sent)
  uint64_t bytes = 0;           // memory it takes: entries, free list, hash keys and buckets
};

// Memory of a table of `capacity` entries indexed by rte_hash with a
// quarter of headroom (BoundedTable, FlowTable): the entries and their free
// list, the hash's key store (key + data pointer per slot) and its buckets
// (8 slots per 128 bytes of signatures and indices).
inline uint64_t keyed_table_bytes(uint64_t capacity, size_t entry_size, size_t key_size) {
  const uint64_t slots = capacity + capacity / 4;
  return capacity * (entry_size + sizeof(uint32_t)) + slots * (key_size + 8) + slots / 8 * 128;
}

// A BoundedTable's rows in its owner's counter table (pegs.h).
inline constexpr PegInfo kBoundedTablePegs[] = {
    {"table_entries", PegKind::kNow, "entries in the table now"},
    {"table_capacity", PegKind::kNow, "entries the table holds"},
    {"table_evictions", PegKind::kSum, "entries evicted for room (the table is too small)"},
    {"table_kept_evictions", PegKind::kSum,
     "of those, incidents that had alerted (their closing update lost)"},
    {"table_insert_failures", PegKind::kSum, "entries that found no room at all"},
};

class TableStatsSource {
 public:
  virtual ~TableStatsSource() = default;
  virtual TableStats stats() const = 0;
};

// The process's registered tables. register/unregister on the main thread;
// read the stats only while the pipeline is stopped (no packet thread runs).
void register_table(const TableStatsSource* t);
void unregister_table(const TableStatsSource* t);
std::vector<TableStats> registered_table_stats();

// rte_hash compares keys with vector code when they are 16, 32, ... 128
// bytes long and with memcmp through the PLT otherwise; a key of known
// length compares in a few word loads.
template <size_t N>
int key_bytes_differ(const void* a, const void* b, size_t) {
  const auto* x = static_cast<const uint8_t*>(a);
  const auto* y = static_cast<const uint8_t*>(b);
  uint64_t d = 0;
  size_t i = 0;
  for (; i + 8 <= N; i += 8) {
    uint64_t u, v;
    std::memcpy(&u, x + i, 8);
    std::memcpy(&v, y + i, 8);
    d |= u ^ v;
  }
  for (; i < N; ++i)
    d |= uint64_t(x[i] ^ y[i]);
  return d != 0;
}

template <typename Key, typename Entry>
class BoundedTable final : public TableStatsSource {
 public:
  static constexpr uint32_t kNil = UINT32_MAX;
  // Kept entries passed over per eviction: bounds the cost of an insert
  // into a table full of them.
  static constexpr uint32_t kSecondChances = 8;

  static std::unique_ptr<BoundedTable> create(const std::string& name, uint32_t capacity,
                                              int socket, std::string* error) {
    std::unique_ptr<BoundedTable> t(new BoundedTable());
    rte_hash_parameters p{};
    p.name = name.c_str();
    // A cuckoo hash kept full makes every insert search for room; a quarter
    // more slots than entries keeps inserts cheap when the table evicts.
    p.entries = capacity + capacity / 4;
    p.key_len = sizeof(Key);
    p.hash_func = rte_hash_crc;
    p.socket_id = socket;
    p.extra_flag = RTE_HASH_EXTRA_FLAGS_EXT_TABLE;
    t->hash_ = rte_hash_create(&p);
    t->entries_ = static_cast<Entry*>(
        rte_zmalloc_socket(name.c_str(), sizeof(Entry) * capacity, RTE_CACHE_LINE_SIZE, socket));
    if (!t->hash_ || !t->entries_) {
      // rte_malloc sets no errno: a failure here is DPDK memory running out.
      *error =
          "cannot allocate table '" + name + "' of " + std::to_string(capacity) +
          " entries on NUMA socket " + std::to_string(socket) + ": " +
          (t->hash_ ? std::string("out of DPDK memory") : std::string(rte_strerror(rte_errno))) +
          " (DPDK has the hugepages or EAL -m it was given; the tables' sizes are "
          "printed at the end of a run)";
      return nullptr;
    }
    if constexpr (sizeof(Key) % 16 != 0 || sizeof(Key) > 128)
      rte_hash_set_cmp_func(t->hash_, key_bytes_differ<sizeof(Key)>);
    t->capacity_ = capacity;
    t->name_ = name;
    t->free_.reserve(capacity);
    for (uint32_t i = capacity; i-- > 0;)
      t->free_.push_back(i);
    return t;
  }
  ~BoundedTable() override {
    if (!owner_.empty()) unregister_table(this);
    if (hash_) rte_hash_free(hash_);
    if (entries_) rte_free(entries_);
  }

  Entry* find(const Key& k) noexcept {
    void* data;
    return rte_hash_lookup_data(hash_, &k, &data) >= 0 ? &entries_[uintptr_t(data)] : nullptr;
  }

  // Finds or creates (zero-initialised, key set) the entry of `k`. When the
  // table is full the least recently used entry makes room; entries for
  // which `keep(entry)` is true (an incident that has alerted) are passed
  // over in favour of ones that are not, up to kSecondChances of them, so a
  // flood of one-packet keys cannot push out what is being reported. An
  // entry evicted anyway is first shown to `evicting(entry)` (a detector
  // emits the update its incident still owes), and counted.
  template <typename Keep, typename Evicting>
  Entry* find_or_insert(const Key& k, uint64_t now, bool* created, Keep&& keep,
                        Evicting&& evicting) noexcept {
    *created = false;
    if (Entry* e = find(k)) {
      touch(e, now);
      return e;
    }
    if (size_.get() >= capacity_ && lru_.head != kNil) {
      uint32_t victim = lru_.head;
      for (uint32_t tries = 0; tries < kSecondChances && keep(entries_[victim]); ++tries) {
        unlink(victim);  // its turn again after everything behind it
        push_tail(victim);
        victim = lru_.head;
      }
      if (keep(entries_[victim])) {
        ++kept_evictions_;
        evicting(entries_[victim]);
      }
      ++evictions_;
      remove(&entries_[victim]);
    }
    if (free_.empty()) {
      ++insert_failures_;
      return nullptr;
    }
    const uint32_t pos = free_.back();
    if (rte_hash_add_key_data(hash_, &k, reinterpret_cast<void*>(uintptr_t(pos))) != 0) {
      ++insert_failures_;
      return nullptr;
    }
    free_.pop_back();
    Entry* e = &entries_[pos];
    *e = Entry{};
    e->key = k;
    e->last_ts = now;
    e->lru_prev = e->lru_next = kNil;
    push_tail(pos);
    size_.add();
    *created = true;
    return e;
  }
  // Entries that say they are `kept()` (IncidentEntry: an incident that has
  // alerted) get their second chances; others are plain LRU.
  Entry* find_or_insert(const Key& k, uint64_t now, bool* created) noexcept {
    return find_or_insert(k, now, created, [](Entry&) {});
  }
  template <typename Evicting>
  Entry* find_or_insert(const Key& k, uint64_t now, bool* created, Evicting&& evicting) noexcept {
    return find_or_insert(
        k, now, created,
        [](const Entry& e) {
          if constexpr (requires { e.kept(); })
            return e.kept();
          else
            return false;
        },
        evicting);
  }

  void touch(Entry* e, uint64_t now) noexcept {
    if (now > e->last_ts) e->last_ts = now;
    const uint32_t i = uint32_t(e - entries_);
    if (lru_.tail == i) return;
    unlink(i);
    push_tail(i);
  }

  // Removes a stored entry (one find/find_or_insert returned, not removed since).
  void remove(Entry* e) noexcept {
    const uint32_t i = uint32_t(e - entries_);
    unlink(i);
    rte_hash_del_key(hash_, &e->key);
    free_.push_back(i);
    size_.sub();
  }

  // Drops entries idle for more than `idle_ns`, oldest first, at most `budget`.
  uint32_t expire(uint64_t now, uint64_t idle_ns, uint32_t budget) noexcept {
    uint32_t n = 0;
    while (n < budget && lru_.head != kNil && now > entries_[lru_.head].last_ts &&
           now - entries_[lru_.head].last_ts > idle_ns) {
      remove(&entries_[lru_.head]);
      ++n;
    }
    return n;
  }

  // The least recently touched entry (nullptr when empty): the next to go.
  Entry* oldest() noexcept { return lru_.head == kNil ? nullptr : &entries_[lru_.head]; }
  Entry* at(uint32_t i) noexcept { return &entries_[i]; }
  uint32_t index_of(const Entry* e) const noexcept { return uint32_t(e - entries_); }
  uint32_t size() const { return uint32_t(size_.get()); }
  uint32_t capacity() const { return capacity_; }
  uint64_t evictions() const { return evictions_.get(); }
  uint64_t insert_failures() const { return insert_failures_.get(); }
  // Evictions of entries that `keep` asked to keep (reported incidents).
  uint64_t kept_evictions() const { return kept_evictions_.get(); }

  // Its counters, at its rows of a component's counter table
  // (kBoundedTablePegs), any thread.
  void add_pegs(uint64_t* out) const noexcept {
    out[0] += size_.get(), out[1] += capacity_, out[2] += evictions_.get();
    out[3] += kept_evictions_.get(), out[4] += insert_failures_.get();
  }

  // Names the detector this table belongs to and lists it for the report.
  void set_owner(std::string_view owner, std::string_view param = "table_size") {
    if (owner_.empty()) register_table(this);
    owner_ = owner;
    param_ = param;
  }
  TableStats stats() const override {
    const uint64_t bytes = keyed_table_bytes(capacity_, sizeof(Entry), sizeof(Key));
    return {owner_,           param_, name_, size(), capacity_, evictions(), insert_failures(),
            kept_evictions(), bytes};
  }

 private:
  BoundedTable() = default;
  void unlink(uint32_t i) noexcept { lru_.unlink(entries_, i); }
  void push_tail(uint32_t i) noexcept { lru_.push_tail(entries_, i); }

  std::string owner_, param_, name_;
  std::vector<uint32_t> free_;  // entry slots not in use (capacity reserved at create)
  rte_hash* hash_ = nullptr;
  Entry* entries_ = nullptr;
  uint32_t capacity_ = 0;
  LruList lru_;
  Peg size_;  // entries in use; other threads read it as a counter (add_pegs)
  Peg evictions_, insert_failures_, kept_evictions_;
};

}  // namespace harrier
