// The flow index: every key it took is found again, in whichever of its two
// buckets the cuckoo moves left it; it fills far past the load it is sized
// for before it refuses; erasing leaves nothing behind.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "dataplane/flow_index.h"

namespace harrier {
namespace {

FlowKey key_of(uint32_t i) {
  IpAddr a = IpAddr::v4(0x0A000000u + i), b = IpAddr::v4(0xC0A80001u);
  FlowKey k;
  make_flow_key(a, b, uint16_t(1024 + i % 50000), 443, 6, k);
  return k;
}

// The slot of `k` in `idx`, comparing keys as the flow table does.
uint32_t find(const FlowIndex& idx, const std::vector<FlowKey>& keys, const FlowKey& k) {
  const uint32_t h = FlowIndex::hash(k);
  FlowIndex::Cursor c = idx.start(h);
  for (uint32_t s = idx.next(h, c); s != FlowIndex::kNil; s = idx.next(h, c))
    if (keys[s] == k) return s;
  return FlowIndex::kNil;
}

TEST(FlowIndex, FillsPastItsSizingAndFindsEveryKey) {
  FlowIndex idx;
  std::string err;
  const uint32_t capacity = 4096;  // 1,024 buckets of 8 ways
  ASSERT_TRUE(idx.init(capacity, 0, &err)) << err;
  const uint32_t ways = uint32_t(FlowIndex::memory_bytes(capacity) / 64) * FlowIndex::kWays;
  std::vector<FlowKey> keys;
  for (uint32_t i = 0; i < ways; ++i) {
    keys.push_back(key_of(i));
    if (!idx.insert(FlowIndex::hash(keys.back()), i)) {
      keys.pop_back();
      break;
    }
  }
  // Two choices of eight ways, with moves: far beyond the 80% it is sized for.
  EXPECT_GT(keys.size(), ways * 9 / 10) << keys.size() << " of " << ways;
  for (uint32_t i = 0; i < keys.size(); ++i)
    ASSERT_EQ(find(idx, keys, keys[i]), i) << "key " << i;
  EXPECT_EQ(find(idx, keys, key_of(ways + 7)), FlowIndex::kNil);

  // Erase in random order; the rest stay found, the erased are gone.
  std::vector<uint32_t> order(keys.size());
  for (uint32_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::mt19937 rng(7);
  std::shuffle(order.begin(), order.end(), rng);
  const size_t half = order.size() / 2;
  for (size_t j = 0; j < half; ++j)
    idx.erase(FlowIndex::hash(keys[order[j]]), order[j]);
  for (size_t j = 0; j < order.size(); ++j)
    ASSERT_EQ(find(idx, keys, keys[order[j]]), j < half ? FlowIndex::kNil : order[j]) << j;

  // The freed ways take new keys again.
  for (size_t j = 0; j < half; ++j) {
    const uint32_t s = order[j];
    keys[s] = key_of(ways + 100 + s);
    ASSERT_TRUE(idx.insert(FlowIndex::hash(keys[s]), s)) << j;
  }
  for (uint32_t i = 0; i < keys.size(); ++i)
    ASSERT_EQ(find(idx, keys, keys[i]), i) << "key " << i;
}

TEST(FlowIndex, TagCollisionsAreToldApartByKey) {
  FlowIndex idx;
  std::string err;
  ASSERT_TRUE(idx.init(16, 0, &err)) << err;  // a handful of buckets: tags collide
  std::vector<FlowKey> keys;
  for (uint32_t i = 0; i < 24; ++i) {
    keys.push_back(key_of(i * 7919));
    ASSERT_TRUE(idx.insert(FlowIndex::hash(keys[i]), i)) << i;
  }
  for (uint32_t i = 0; i < keys.size(); ++i)
    EXPECT_EQ(find(idx, keys, keys[i]), i);
}

TEST(FlowKey, BothDirectionsMeetInByteOrder) {
  std::mt19937 rng(11);
  for (int i = 0; i < 20000; ++i) {
    uint8_t x[16], y[16];
    for (int j = 0; j < 16; ++j) {
      x[j] = uint8_t(rng() & (i % 3 ? 0xFF : 0x01));  // many ties too
      y[j] = uint8_t(rng() & (i % 3 ? 0xFF : 0x01));
    }
    const IpAddr a = IpAddr::v6(x), b = IpAddr::v6(y);
    const uint16_t pa = uint16_t(rng() % 3), pb = uint16_t(rng() % 3);
    FlowKey ab, ba;
    const bool a_lo = make_flow_key(a, b, pa, pb, 6, ab);
    const bool b_lo = make_flow_key(b, a, pb, pa, 6, ba);
    ASSERT_TRUE(ab == ba) << i;
    const int c = std::memcmp(x, y, 16);
    ASSERT_EQ(a_lo, c < 0 || (c == 0 && pa <= pb)) << i;
    if (c != 0 || pa != pb) {
      ASSERT_NE(a_lo, b_lo) << i;
    }
  }
}

}  // namespace
}  // namespace harrier
