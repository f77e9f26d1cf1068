// An intrusive LRU list threaded through a fixed entry array by index (entries
// carry `lru_prev`/`lru_next`). Shared by the flow table and BoundedTable.
#pragma once

#include <cstdint>

namespace harrier {

struct LruList {
  static constexpr uint32_t kNil = UINT32_MAX;
  uint32_t head = kNil, tail = kNil;

  template <typename Entry>
  void unlink(Entry* entries, uint32_t i) noexcept {
    Entry& e = entries[i];
    if (e.lru_prev != kNil)
      entries[e.lru_prev].lru_next = e.lru_next;
    else
      head = e.lru_next;
    if (e.lru_next != kNil)
      entries[e.lru_next].lru_prev = e.lru_prev;
    else
      tail = e.lru_prev;
    e.lru_prev = e.lru_next = kNil;
  }
  template <typename Entry>
  void push_tail(Entry* entries, uint32_t i) noexcept {
    Entry& e = entries[i];
    e.lru_prev = tail;
    e.lru_next = kNil;
    if (tail != kNil)
      entries[tail].lru_next = i;
    else
      head = i;
    tail = i;
  }
};

}  // namespace harrier
