#include "dataplane/flow_table.h"

#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>

namespace harrier {

std::unique_ptr<FlowTable> FlowTable::create(const std::string& name, uint32_t capacity, int socket,
                                             const FlowTimeouts& timeouts, std::string* error) {
  std::unique_ptr<FlowTable> t(new FlowTable());
  t->capacity_ = capacity;
  t->timeouts_ = timeouts;
  rte_hash_parameters p{};
  p.name = name.c_str();
  p.entries = capacity;
  p.key_len = sizeof(FlowKey);
  p.hash_func = rte_hash_crc;
  p.hash_func_init_val = 0;
  p.socket_id = socket;
  // The extendable bucket table guarantees every one of `capacity` keys fits,
  // so "full" means exactly size == capacity and eviction stays exact.
  p.extra_flag = RTE_HASH_EXTRA_FLAGS_EXT_TABLE;
  t->hash_ = rte_hash_create(&p);
  if (t->hash_ == nullptr) {
    *error = "cannot create flow hash '" + name + "' (" + std::to_string(capacity) +
             " entries on socket " + std::to_string(socket) + "): " + rte_strerror(rte_errno);
    return nullptr;
  }
  t->entries_ = static_cast<FlowEntry*>(rte_zmalloc_socket(
      "flow_entries", sizeof(FlowEntry) * capacity, RTE_CACHE_LINE_SIZE, socket));
  if (t->entries_ == nullptr) {
    *error = "cannot allocate " + std::to_string(capacity) + " flow entries on socket " +
             std::to_string(socket);
    return nullptr;
  }
  return t;
}

FlowTable::~FlowTable() {
  if (hash_) rte_hash_free(hash_);
  if (entries_) rte_free(entries_);
}

bool FlowTable::is_expired(const FlowEntry& e, uint64_t now) const noexcept {
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
  if (lru_.tail == i) return;
  lru_unlink(i);
  lru_push_tail(i);
}

void FlowTable::remove(uint32_t i) noexcept {
  lru_unlink(i);
  rte_hash_del_key(hash_, &entries_[i].key);
  --size_;
}

FlowEntry* FlowTable::insert(const FlowKey& key, uint64_t now) noexcept {
  if (size_ >= capacity_ && lru_.head != kNil) {
    const uint32_t victim = lru_.head;
    if (is_expired(entries_[victim], now))
      ++counters_.expired;
    else
      ++counters_.evicted;
    remove(victim);
  }
  const int32_t pos = rte_hash_add_key(hash_, &key);
  if (pos < 0 || uint32_t(pos) >= capacity_) {
    if (pos >= 0) rte_hash_del_key(hash_, &key);
    ++counters_.insert_failures;
    return nullptr;
  }
  FlowEntry* e = &entries_[pos];
  *e = FlowEntry{};
  e->key = key;
  e->first_ts = e->last_ts = now;
  e->lru_prev = e->lru_next = kNil;
  lru_push_tail(uint32_t(pos));
  ++size_;
  ++counters_.inserts;
  return e;
}

void FlowTable::lookup_or_insert(const FlowKey* const* keys, const uint64_t* now, uint32_t n,
                                 FlowEntry** out, bool* created) noexcept {
  int32_t positions[kBurst];
  if (n > kBurst) n = kBurst;
  counters_.lookups += n;
  rte_hash_lookup_bulk(hash_, reinterpret_cast<const void**>(const_cast<const FlowKey**>(keys)), n,
                       positions);
  // Once this burst inserted or removed a flow, the bulk answers for later
  // keys may be stale (a repeat of a key just inserted, a hit just evicted):
  // from then on ask again, one key at a time.
  bool changed = false;
  for (uint32_t i = 0; i < n; ++i) {
    const int32_t pos = changed ? rte_hash_lookup(hash_, keys[i]) : positions[i];
    FlowEntry* e = pos >= 0 ? &entries_[pos] : nullptr;
    created[i] = false;
    if (e) {
      make_recent(e);
    } else {
      e = insert(*keys[i], now[i]);
      changed = true;
      created[i] = e != nullptr;
    }
    out[i] = e;
  }
}

bool FlowTable::refresh(FlowEntry* e, uint64_t now) noexcept {
  if (!is_expired(*e, now)) {
    if (now > e->last_ts) e->last_ts = now;
    return false;
  }
  // Same key, same slot, same LRU place: only the conversation is new.
  const FlowKey key = e->key;
  const uint32_t prev = e->lru_prev, next = e->lru_next;
  *e = FlowEntry{};
  e->key = key;
  e->lru_prev = prev;
  e->lru_next = next;
  e->first_ts = e->last_ts = now;
  ++counters_.expired;
  return true;
}

FlowEntry* FlowTable::find(const FlowKey& key, uint64_t now) noexcept {
  ++counters_.lookups;
  const int32_t pos = rte_hash_lookup(hash_, &key);
  if (pos < 0) return nullptr;
  FlowEntry* e = &entries_[pos];
  return is_expired(*e, now) ? nullptr : e;
}

uint32_t FlowTable::expire(uint64_t now, uint32_t budget) noexcept {
  uint32_t n = 0;
  while (n < budget && lru_.head != kNil && is_expired(entries_[lru_.head], now)) {
    remove(lru_.head);
    ++counters_.expired;
    ++n;
  }
  return n;
}

}  // namespace harrier
