// BoundedTable: the fixed-budget detector table. Full tables evict the least
// recently touched key and keep working at full load for as long as keys
// keep coming; removed and expired slots are reused; stats report it all.
#include <gtest/gtest.h>

#include "dataplane/bounded_table.h"

using namespace harrier;

namespace {
struct Key {
  uint32_t a, b;
};
struct Entry {
  Key key;
  uint64_t last_ts;
  uint32_t lru_prev, lru_next;
  uint32_t value;
};
using Table = BoundedTable<Key, Entry>;

std::unique_ptr<Table> make(uint32_t cap) {
  std::string err;
  auto t = Table::create("bt" + std::to_string(cap) + "_" + std::to_string(rand()), cap, 0, &err);
  EXPECT_TRUE(t) << err;
  return t;
}
}  // namespace

TEST(BoundedTable, FullTableEvictsLeastRecentlyTouchedAndKeepsInserting) {
  auto t = make(256);
  bool created;
  for (uint32_t i = 0; i < 100000; ++i) {
    Entry* e = t->find_or_insert(Key{i, ~i}, i, &created);
    ASSERT_NE(e, nullptr) << i;
    ASSERT_TRUE(created);
    e->value = i;
  }
  EXPECT_EQ(t->size(), 256u);
  EXPECT_EQ(t->evictions(), 100000u - 256u);
  EXPECT_EQ(t->insert_failures(), 0u);
  // The newest keys are there, the old ones gone.
  for (uint32_t i = 100000 - 200; i < 100000; ++i) {
    Entry* e = t->find(Key{i, ~i});
    ASSERT_NE(e, nullptr) << i;
    EXPECT_EQ(e->value, i);
  }
  EXPECT_EQ(t->find(Key{5, ~5u}), nullptr);
}

TEST(BoundedTable, RemovedAndExpiredSlotsAreReused) {
  auto t = make(256);
  bool created;
  for (uint32_t i = 0; i < 256; ++i)
    t->find_or_insert(Key{i, 0}, 1000 + i, &created);
  t->remove(t->find(Key{7, 0}));
  EXPECT_EQ(t->find(Key{7, 0}), nullptr);
  EXPECT_EQ(t->size(), 255u);
  ASSERT_NE(t->find_or_insert(Key{9999, 0}, 2000, &created), nullptr);
  EXPECT_EQ(t->evictions(), 0u);  // the removed slot took it
  // Keys last touched before 1100 are older than 500 ns at time 1600.
  EXPECT_EQ(t->expire(1600, 500, 1000), 99u);
  EXPECT_EQ(t->size(), 256u - 99u);
  EXPECT_EQ(t->find(Key{50, 0}), nullptr);
  EXPECT_NE(t->find(Key{150, 0}), nullptr);
  t->set_owner("unit-test");
  bool listed = false;
  for (const TableStats& s : registered_table_stats())
    if (s.owner == "unit-test") listed = s.capacity == 256 && s.size == 157;
  EXPECT_TRUE(listed);
}
