#include "dataplane/flow_table.h"

#include <rte_malloc.h>
#include <rte_prefetch.h>

#include <algorithm>
#include <cstring>
#include <type_traits>

namespace harrier {

namespace {
// Copying one empty entry is a few vector moves; value-initialising the
// 224-byte entry wrote it field by field.
static_assert(std::is_trivially_copyable_v<FlowEntry>);
const FlowEntry kEmptyFlow{};
}  // namespace

std::unique_ptr<FlowTable> FlowTable::create(uint32_t capacity, int socket,
                                             const FlowTimeouts& timeouts, std::string* error) {
  std::unique_ptr<FlowTable> t(new FlowTable());
  t->capacity_ = capacity;
  t->timeouts_ = timeouts;
  t->min_timeout_ns_ = uint64_t(std::min({timeouts.syn_sent_s, timeouts.established_s,
                                          timeouts.closed_s, timeouts.udp_s, timeouts.other_s})) *
                       1'000'000'000ull;
  // The index has a quarter more ways than flows, so inserts find room at
  // once; eviction is ours (LRU, at `capacity`), so the spare is never filled.
  if (!t->index_.init(capacity, socket, error)) return nullptr;
  // Not zeroed: a slot is initialised when a flow takes it, and zeroing
  // (and at exit, rte_free zeroing again) touched every page up front.
  t->entries_ = static_cast<FlowEntry*>(
      rte_malloc_socket("flow_entries", sizeof(FlowEntry) * capacity, RTE_CACHE_LINE_SIZE, socket));
  t->free_ = static_cast<uint32_t*>(
      rte_malloc_socket("flow_free", sizeof(uint32_t) * capacity, RTE_CACHE_LINE_SIZE, socket));
  if (t->entries_ == nullptr || t->free_ == nullptr) {
    *error = "cannot allocate " + std::to_string(capacity) + " flow entries on NUMA socket " +
             std::to_string(socket) + ": out of DPDK memory; lower dataplane.flow_table.capacity " +
             "(about " + std::to_string(memory_bytes(1u << 20) >> 20) +
             " MB per million flows) or give DPDK more (hugepages, EAL -m)";
    return nullptr;
  }
  // Slots are taken from the top of the stack: the lowest first, so a
  // lightly used table touches few pages.
  for (uint32_t i = 0; i < capacity; ++i)
    t->free_[i] = capacity - 1 - i;
  t->n_free_ = capacity;
  return t;
}

size_t FlowTable::memory_bytes(uint32_t capacity) {
  return size_t(capacity) * (sizeof(FlowEntry) + sizeof(uint32_t)) +
         FlowIndex::memory_bytes(capacity);
}

FlowTable::~FlowTable() {
  if (entries_) rte_free(entries_);
  if (free_) rte_free(free_);
}

// The timeout of the flow's state, for one idle longer than the shortest.
bool FlowTable::idle_past_timeout(const FlowEntry& e, uint64_t now) const noexcept {
  uint64_t timeout_s;
  switch (e.tcp_state) {
    case TcpState::kSynSent:
    case TcpState::kSynReceived:
      timeout_s = timeouts_.syn_sent_s;
      break;
    case TcpState::kEstablished:
    case TcpState::kMidstream:
      timeout_s = timeouts_.established_s;
      break;
    case TcpState::kClosing:
    case TcpState::kReset:
      timeout_s = timeouts_.closed_s;
      break;
    case TcpState::kNone:
    default:
      timeout_s = e.key.proto == 17 ? timeouts_.udp_s : timeouts_.other_s;
      break;
  }
  return now > e.last_ts && now - e.last_ts > timeout_s * 1'000'000'000ull;
}

void FlowTable::lru_unlink(uint32_t i) noexcept {
  lru_.unlink(entries_, i);
}

void FlowTable::lru_push_tail(uint32_t i) noexcept {
  lru_.push_tail(entries_, i);
}

void FlowTable::make_recent(FlowEntry* e) noexcept {
  const uint32_t i = index_of(e);
  if (lru_.tail == i || e->answer_by) return;  // a waiting attempt is not on the LRU
  lru_unlink(i);
  lru_push_tail(i);
}

void FlowTable::await_answer(FlowEntry* e, uint64_t now, uint64_t order) noexcept {
  if (e->answer_by) return;  // waiting already: on the wait list, off the LRU
  // The engine's answer clock never steps back; should a caller's, the
  // deadline still does not, so the list stays in deadline order.
  uint64_t by = now + uint64_t(timeouts_.answer_grace_ms) * 1'000'000ull;
  if (wait_.tail != kNil) by = std::max(by, entries_[wait_.tail].answer_by);
  // Off the LRU while it waits: eviction and expiry never meet it (see insert).
  lru_unlink(index_of(e));
  e->answer_by = by;
  e->probe_order = order;
  wait_.push_tail(entries_, index_of(e));
  ++counters_.awaiting;
}

void FlowTable::leave_wait_list(uint32_t i) noexcept {
  wait_.unlink(entries_, i);
  entries_[i].answer_by = 0;
}

void FlowTable::stop_waiting(FlowEntry* e) noexcept {
  leave_wait_list(index_of(e));
  lru_push_tail(index_of(e));  // an ordinary flow again, as recent as its outcome
}

void FlowTable::remove(uint32_t i) noexcept {
  if (entries_[i].answer_by) {
    // Only a table full of waiting attempts gets here: the outcome is
    // unknown, and an overflow must not turn into an alert.
    leave_wait_list(i);
    ++counters_.awaiting_evicted;
  } else {
    lru_unlink(i);
  }
  index_.erase(FlowIndex::hash(entries_[i].key), i);
  free_[n_free_++] = i;
  --size_;
}

// Both of the key's buckets are full and no short path of moves frees a
// way: random traffic at the index's load practically never gets here, but
// CRC32 is linear, so crafted keys can share one hash. Rather than leave
// the new flow untracked, the least recent flow of the two buckets that
// the batch does not hold makes room (counted as evicted); ordinary flows
// go before waiting attempts. False when all of them are the batch's.
bool FlowTable::make_index_room(uint32_t hash) noexcept {
  uint32_t slots[2 * FlowIndex::kWays];
  const uint32_t n = index_.residents(hash, slots);
  uint32_t victim = kNil;
  for (uint32_t k = 0; k < n; ++k) {
    const FlowEntry& e = entries_[slots[k]];
    if (e.batch == batch_) continue;
    if (victim == kNil) {
      victim = slots[k];
      continue;
    }
    const FlowEntry& v = entries_[victim];
    const bool e_waits = e.answer_by != 0, v_waits = v.answer_by != 0;
    if (e_waits != v_waits ? v_waits : e.last_ts < v.last_ts) victim = slots[k];
  }
  if (victim == kNil) return false;
  ++counters_.evicted;
  remove(victim);
  return true;
}

FlowEntry* FlowTable::insert(const FlowKey& key, uint32_t hash, uint64_t now) noexcept {
  if (size_ >= capacity_) {
    // Attempts still waiting for their answer are on the wait list, not the
    // LRU: their outcomes are what the scan detectors count, and a flood of
    // answered conversations must not push a scan's attempts out. Only a
    // table that is all waiting attempts loses one, the oldest (counted).
    // The batch's own flows are never the victim: on the LRU they are its
    // recent end, so a batch flow at the head means there is no other.
    uint32_t victim = lru_.head;
    if (victim != kNil && entries_[victim].batch == batch_) victim = kNil;
    // On the wait list, the batch's flows are where their attempts were
    // made: pass over at most as many as a batch can hold.
    for (uint32_t i = wait_.head, seen = 0; victim == kNil && i != kNil && seen <= kMaxBatch;
         i = entries_[i].wait_next, ++seen)
      if (entries_[i].batch != batch_) victim = i;
    if (victim == kNil) {
      ++counters_.insert_failures;
      return nullptr;
    }
    if (is_expired(entries_[victim], now))
      ++counters_.expired;
    else
      ++counters_.evicted;
    remove(victim);
  }
  if (n_free_ == 0) {
    ++counters_.insert_failures;
    return nullptr;
  }
  uint32_t pos = free_[n_free_ - 1];
  if (!index_.insert(hash, pos)) {
    if (!make_index_room(hash)) {
      ++counters_.insert_failures;
      return nullptr;
    }
    pos = free_[n_free_ - 1];         // the evicted flow's slot, now on top of the stack
    if (!index_.insert(hash, pos)) {  // cannot happen: the eviction freed a way
      ++counters_.insert_failures;
      return nullptr;
    }
  }
  --n_free_;
  FlowEntry* e = &entries_[pos];
  *e = kEmptyFlow;
  e->key = key;
  e->batch = batch_;
  e->first_ts = e->last_ts = now;
  e->lru_prev = e->lru_next = kNil;
  e->wait_prev = e->wait_next = kNil;
  lru_push_tail(pos);
  ++size_;
  ++counters_.inserts;
  return e;
}

void FlowTable::lookup_or_insert(const FlowKey* const* keys, const uint64_t* now, uint32_t n,
                                 FlowEntry** out, bool* created) noexcept {
  if (n > kBurst) n = kBurst;
  counters_.lookups += n;
  // Three passes over the burst, so no pass waits on memory the one before
  // it has not asked for yet: hash and fetch the buckets; find each key's
  // first tag match and fetch its entry; compare keys.
  uint32_t hashes[kBurst];
  for (uint32_t i = 0; i < n; ++i) {
    hashes[i] = FlowIndex::hash(*keys[i]);
    index_.prefetch(hashes[i]);
  }
  FlowIndex::Cursor cursors[kBurst];
  uint32_t slots[kBurst];
  for (uint32_t i = 0; i < n; ++i) {
    cursors[i] = index_.start(hashes[i]);
    slots[i] = index_.next(hashes[i], cursors[i]);
    if (slots[i] != kNil) rte_prefetch0(&entries_[slots[i]]);
  }
  // Hits first, in order: each moves to the recent end of the LRU and is
  // marked the batch's, so no insert of this burst can evict a flow the
  // burst holds.
  uint64_t misses = 0;
  for (uint32_t i = 0; i < n; ++i) {
    created[i] = false;
    uint32_t slot = slots[i];
    while (slot != kNil && !(entries_[slot].key == *keys[i]))
      slot = index_.next(hashes[i], cursors[i]);  // another key with the same tag
    if (slot == kNil) {
      misses |= uint64_t(1) << i;
      continue;
    }
    FlowEntry* e = &entries_[slot];
    make_recent(e);
    e->batch = batch_;
    out[i] = e;
  }
  if (misses == 0) return;
  // Misses: an earlier miss of the burst may have inserted the same key
  // (a new flow's packets often arrive together), so the burst's own
  // misses are searched first, on a small chained table of their hashes;
  // a flow the burst inserted stays (see insert), so what it finds holds.
  constexpr uint32_t kChains = 2 * kBurst;  // a power of two
  uint8_t chain[kChains];
  uint8_t next[kBurst];
  std::memset(chain, 0xFF, sizeof(chain));
  for (uint32_t i = 0; i < n; ++i) {
    if (!(misses >> i & 1)) continue;
    const uint32_t c = hashes[i] & (kChains - 1);
    FlowEntry* same = nullptr;
    for (uint8_t j = chain[c]; j != 0xFF; j = next[j])
      if (hashes[j] == hashes[i] && out[j] != nullptr && *keys[j] == *keys[i]) {
        same = out[j];
        break;
      }
    if (same != nullptr) {
      out[i] = same;
      continue;
    }
    out[i] = insert(*keys[i], hashes[i], now[i]);
    created[i] = out[i] != nullptr;
    next[i] = chain[c];
    chain[c] = uint8_t(i);
  }
}

bool FlowTable::refresh_idle(FlowEntry* e, uint64_t now) noexcept {
  if (!is_expired(*e, now)) {
    if (now > e->last_ts) e->last_ts = now;
    return false;
  }
  // The caller reported a waiting attempt's outcome first (see FlowShard);
  // one left waiting here would be lost, so count it as such.
  if (e->answer_by) {
    stop_waiting(e);
    ++counters_.awaiting_evicted;
  }
  // Same key, same slot, same LRU place: only the conversation is new.
  const FlowKey key = e->key;
  const uint32_t prev = e->lru_prev, next = e->lru_next;
  const uint16_t batch = e->batch;  // still the current batch's
  *e = kEmptyFlow;
  e->key = key;
  e->lru_prev = prev;
  e->lru_next = next;
  e->batch = batch;
  e->wait_prev = e->wait_next = kNil;
  e->first_ts = e->last_ts = now;
  ++counters_.expired;
  return true;
}

FlowEntry* FlowTable::find(const FlowKey& key, uint64_t now) noexcept {
  ++counters_.lookups;
  const uint32_t h = FlowIndex::hash(key);
  FlowIndex::Cursor c = index_.start(h);
  for (uint32_t slot = index_.next(h, c); slot != kNil; slot = index_.next(h, c)) {
    FlowEntry* e = &entries_[slot];
    if (e->key == key) return is_expired(*e, now) ? nullptr : e;
  }
  return nullptr;
}

uint32_t FlowTable::expire(uint64_t now, uint32_t budget) noexcept {
  uint32_t n = 0;
  // An attempt still waiting is not on the LRU: it expires only once its
  // outcome is out.
  while (n < budget && lru_.head != kNil && is_expired(entries_[lru_.head], now)) {
    remove(lru_.head);
    ++counters_.expired;
    ++n;
  }
  return n;
}

}  // namespace harrier
