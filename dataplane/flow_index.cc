#include "dataplane/flow_index.h"

#include <rte_malloc.h>

#include <cstring>

namespace harrier {

namespace {
uint32_t bucket_count(uint32_t capacity) {
  const uint64_t ways = uint64_t(capacity) + capacity / 4;
  uint64_t n = 2;
  while (n * FlowIndex::kWays < ways)
    n <<= 1;
  return uint32_t(n);
}
}  // namespace

FlowIndex::~FlowIndex() {
  if (buckets_) rte_free(buckets_);
}

size_t FlowIndex::memory_bytes(uint32_t capacity) {
  return size_t(bucket_count(capacity)) * sizeof(Bucket);
}

bool FlowIndex::init(uint32_t capacity, int socket, std::string* error) {
  const uint32_t n = bucket_count(capacity);
  // Zeroed: a zero tag is a free way.
  buckets_ = static_cast<Bucket*>(
      rte_zmalloc_socket("flow_index", size_t(n) * sizeof(Bucket), RTE_CACHE_LINE_SIZE, socket));
  if (buckets_ == nullptr) {
    *error = "cannot allocate the flow index (" + std::to_string(memory_bytes(capacity) >> 20) +
             " MB on NUMA socket " + std::to_string(socket) + "): out of DPDK memory";
    return false;
  }
  mask_ = n - 1;
  return true;
}

int FlowIndex::make_room(uint32_t b, int depth) noexcept {
  Bucket& bk = buckets_[b];
  // One move: a pair whose other bucket has a free way goes there.
  for (uint32_t w = 0; w < kWays; ++w) {
    const uint32_t o = other_bucket(b, bk.tag[w]);
    Bucket& ob = buckets_[o];
    for (uint32_t v = 0; v < kWays; ++v)
      if (ob.tag[v] == 0) {
        ob.tag[v] = bk.tag[w], ob.slot[v] = bk.slot[w];
        bk.tag[w] = 0;
        return int(w);
      }
  }
  if (depth == 0) return -1;
  // Longer paths: make room in a pair's other bucket first, then move it.
  for (uint32_t w = 0; w < kWays; ++w) {
    const uint32_t o = other_bucket(b, bk.tag[w]);
    const int v = make_room(o, depth - 1);
    if (v < 0) continue;
    Bucket& ob = buckets_[o];
    ob.tag[v] = bk.tag[w], ob.slot[v] = bk.slot[w];
    bk.tag[w] = 0;
    return int(w);
  }
  return -1;
}

bool FlowIndex::insert(uint32_t h, uint32_t slot) noexcept {
  const uint16_t tag = tag_of(h);
  const auto [b1, b2] = buckets_of(h);
  for (uint32_t b : {b1, b2}) {
    Bucket& bk = buckets_[b];
    for (uint32_t w = 0; w < kWays; ++w)
      if (bk.tag[w] == 0) {
        bk.tag[w] = tag, bk.slot[w] = slot;
        return true;
      }
  }
  // Both full: move pairs along a short cuckoo path (8 + 64 + 512 buckets
  // looked at, at worst; at the load the index is sized for, rarely any).
  for (uint32_t b : {b1, b2}) {
    const int w = make_room(b, 2);
    if (w >= 0) {
      buckets_[b].tag[w] = tag, buckets_[b].slot[w] = slot;
      return true;
    }
  }
  return false;
}

uint32_t FlowIndex::residents(uint32_t h, uint32_t* out) const noexcept {
  const auto [b1, b2] = buckets_of(h);
  uint32_t n = 0;
  for (uint32_t b : {b1, b2})
    for (uint32_t w = 0; w < kWays; ++w)
      if (buckets_[b].tag[w] != 0) out[n++] = buckets_[b].slot[w];
  return n;
}

void FlowIndex::erase(uint32_t h, uint32_t slot) noexcept {
  const uint16_t tag = tag_of(h);
  const auto [b1, b2] = buckets_of(h);
  for (uint32_t b : {b1, b2}) {
    Bucket& bk = buckets_[b];
    for (uint32_t w = 0; w < kWays; ++w)
      if (bk.tag[w] == tag && bk.slot[w] == slot) {
        bk.tag[w] = 0;
        return;
      }
  }
}

}  // namespace harrier
