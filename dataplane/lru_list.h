// Intrusive doubly-linked lists threaded through a fixed entry array by
// index. LruList links entries through `lru_prev`/`lru_next` (the flow table
// and BoundedTable); IndexList through any pair of members, so one entry can
// sit on two lists at once (the flow table's answer-wait list).
#pragma once

#include <cstdint>

namespace harrier {

namespace list_links {
inline constexpr uint32_t kNil = UINT32_MAX;

template <auto Prev, auto Next, typename Entry>
void unlink(uint32_t& head, uint32_t& tail, Entry* entries, uint32_t i) noexcept {
  Entry& e = entries[i];
  if (e.*Prev != kNil)
    entries[e.*Prev].*Next = e.*Next;
  else
    head = e.*Next;
  if (e.*Next != kNil)
    entries[e.*Next].*Prev = e.*Prev;
  else
    tail = e.*Prev;
  e.*Prev = e.*Next = kNil;
}

template <auto Prev, auto Next, typename Entry>
void push_tail(uint32_t& head, uint32_t& tail, Entry* entries, uint32_t i) noexcept {
  Entry& e = entries[i];
  e.*Prev = tail;
  e.*Next = kNil;
  if (tail != kNil)
    entries[tail].*Next = i;
  else
    head = i;
  tail = i;
}
}  // namespace list_links

template <auto Prev, auto Next>
struct IndexList {
  static constexpr uint32_t kNil = list_links::kNil;
  uint32_t head = kNil, tail = kNil;

  template <typename Entry>
  void unlink(Entry* entries, uint32_t i) noexcept {
    list_links::unlink<Prev, Next>(head, tail, entries, i);
  }
  template <typename Entry>
  void push_tail(Entry* entries, uint32_t i) noexcept {
    list_links::push_tail<Prev, Next>(head, tail, entries, i);
  }
};

struct LruList {
  static constexpr uint32_t kNil = list_links::kNil;
  uint32_t head = kNil, tail = kNil;

  template <typename Entry>
  void unlink(Entry* entries, uint32_t i) noexcept {
    list_links::unlink<&Entry::lru_prev, &Entry::lru_next>(head, tail, entries, i);
  }
  template <typename Entry>
  void push_tail(Entry* entries, uint32_t i) noexcept {
    list_links::push_tail<&Entry::lru_prev, &Entry::lru_next>(head, tail, entries, i);
  }
};

}  // namespace harrier
