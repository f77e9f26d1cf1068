// The flow table's index: flow key -> entry slot.
//
// A bucketized cuckoo hash in the manner of DPDK's rte_hash and VPP's
// bihash, cut to what the flow table needs: a bucket is one cache line of
// eight (16-bit tag, 32-bit slot) pairs; a key may live in two buckets (the
// second derived from the first and the tag, so an entry can move between
// them without its key); the keys themselves stay in the flow entries, not
// copied into the index. A lookup is one hash, at most two bucket lines
// and one key comparison in the entry the tag points at; a table of a
// million flows indexes in 16 MB. The flow table prefetches buckets and
// entries for a whole burst before it looks (see FlowTable::lookup_or_insert).
//
// Single-threaded: one flow shard owns its index.
#pragma once

#include <rte_hash_crc.h>
#include <rte_prefetch.h>

#include <emmintrin.h>

#include <cstdint>
#include <string>
#include <utility>

#include "dataplane/flow_key.h"

namespace harrier {

class FlowIndex {
 public:
  static constexpr uint32_t kNil = UINT32_MAX;
  static constexpr uint32_t kWays = 8;

  FlowIndex() = default;
  ~FlowIndex();
  FlowIndex(const FlowIndex&) = delete;
  FlowIndex& operator=(const FlowIndex&) = delete;

  // Room for `capacity` keys with a quarter to spare (below 80% full a
  // cuckoo insert nearly always finds a free way in one of its two buckets).
  bool init(uint32_t capacity, int socket, std::string* error);
  static size_t memory_bytes(uint32_t capacity);

  static uint32_t hash(const FlowKey& k) noexcept { return rte_hash_crc(&k, sizeof(FlowKey), 0); }

  // Brings the key's first bucket toward the cache (lookups look there first).
  void prefetch(uint32_t h) const noexcept { rte_prefetch0(&buckets_[h & mask_]); }

  // The slot whose tag matches `h` in the key's buckets, first match first;
  // `next` continues a search after a tag matched another key. kNil: none.
  // The caller compares keys (they live in its entries).
  struct Cursor {
    uint32_t bucket;
    uint32_t way;  // next way to look at
    uint8_t pass;  // 0: first bucket, 1: second
  };
  Cursor start(uint32_t h) const noexcept { return {h & mask_, 0, 0}; }
  uint32_t next(uint32_t h, Cursor& c) const noexcept;

  // The two buckets a key of hash `h` may live in (tests use it to build
  // keys that collide).
  std::pair<uint32_t, uint32_t> buckets_of(uint32_t h) const noexcept {
    return {h & mask_, other_bucket(h & mask_, tag_of(h))};
  }
  // The slots in the two buckets of hash `h` (up to 2 * kWays), for an
  // insert that found no room: the caller evicts one of them.
  uint32_t residents(uint32_t h, uint32_t* out) const noexcept;

  // Adds slot `slot` for a key of hash `h` that is not in the index. False
  // only when both buckets and every short path of moves out of them are full.
  bool insert(uint32_t h, uint32_t slot) noexcept;
  // Removes the pair (h, slot); it must be present.
  void erase(uint32_t h, uint32_t slot) noexcept;

 private:
  struct alignas(64) Bucket {
    uint16_t tag[kWays];  // 0: the way is free
    uint32_t slot[kWays];
  };
  static_assert(sizeof(Bucket) == 64);

  static uint16_t tag_of(uint32_t h) noexcept {
    const uint16_t t = uint16_t(h >> 16);
    return t ? t : 1;
  }
  uint32_t other_bucket(uint32_t b, uint16_t tag) const noexcept {
    uint32_t o = (b ^ (uint32_t(tag) * 0x5bd1e995u)) & mask_;
    return o != b ? o : (b ^ 1) & mask_;
  }
  // Frees a way of bucket b by moving one of its pairs to that pair's other
  // bucket, recursively up to `depth` moves deep. Returns the freed way, or -1.
  int make_room(uint32_t b, int depth) noexcept;

  Bucket* buckets_ = nullptr;
  uint32_t mask_ = 0;  // buckets - 1 (a power of two)
};

inline uint32_t FlowIndex::next(uint32_t h, Cursor& c) const noexcept {
  const uint16_t tag = tag_of(h);
  for (;;) {
    const Bucket& b = buckets_[c.bucket];
    // The eight tags at once: one bit per matching way, from c.way on.
    const __m128i eq = _mm_cmpeq_epi16(_mm_load_si128(reinterpret_cast<const __m128i*>(b.tag)),
                                       _mm_set1_epi16(int16_t(tag)));
    const uint32_t ways = uint32_t(_mm_movemask_epi8(eq)) >> (2 * c.way);
    if (ways != 0) {
      c.way += uint32_t(__builtin_ctz(ways)) / 2;
      return b.slot[c.way++];
    }
    if (c.pass == 1) return kNil;
    c = {other_bucket(h & mask_, tag), 0, 1};
  }
}

}  // namespace harrier
