#include <gtest/gtest.h>

#include <vector>

#include "dataplane/flow_table.h"

using namespace harrier;

namespace {
constexpr uint64_t kSec = 1'000'000'000ull;
FlowKey key(uint32_t i, uint8_t proto = 17) {
  FlowKey k;
  make_flow_key(IpAddr::v4(0x0a000000 + i), IpAddr::v4(0xc0000201), uint16_t(1000 + i), 53, proto,
                k);
  return k;
}
FlowEntry* get(FlowTable& t, const FlowKey& k, uint64_t now, bool* created) {
  const FlowKey* kp = &k;
  FlowEntry* e = nullptr;
  t.begin_batch();  // each packet a batch of its own
  t.lookup_or_insert(&kp, &now, 1, &e, created);
  if (e && !*created) *created = t.refresh(e, now);  // as the flow shard does per packet
  return e;
}
std::unique_ptr<FlowTable> table(uint32_t cap) {
  std::string err;
  auto t = FlowTable::create(cap, 0, FlowTimeouts{}, &err);
  EXPECT_TRUE(t) << err;
  return t;
}
}  // namespace

TEST(FlowTable, FindsTheSameFlowAgain) {
  auto t = table(1024);
  bool created;
  FlowEntry* a = get(*t, key(1), kSec, &created);
  ASSERT_TRUE(a && created);
  FlowEntry* b = get(*t, key(1), 2 * kSec, &created);
  EXPECT_EQ(a, b);
  EXPECT_FALSE(created);
  EXPECT_EQ(t->size(), 1u);
}

TEST(FlowTable, BulkLookupHandlesRepeatsWithinABurst) {
  auto t = table(1024);
  std::vector<FlowKey> keys = {key(1), key(2), key(1), key(3), key(2)};
  std::vector<const FlowKey*> ptrs;
  for (auto& k : keys)
    ptrs.push_back(&k);
  FlowEntry* out[5];
  bool created[5];
  const uint64_t now[5] = {kSec, kSec, kSec, kSec, kSec};
  t->lookup_or_insert(ptrs.data(), now, 5, out, created);
  EXPECT_EQ(out[0], out[2]);
  EXPECT_EQ(out[1], out[4]);
  EXPECT_TRUE(created[0] && created[1] && created[3]);
  EXPECT_FALSE(created[2] || created[4]);
  EXPECT_EQ(t->size(), 3u);
}

TEST(FlowTable, IdleFlowsExpireOnPacketTime) {
  auto t = table(1024);
  bool created;
  for (uint32_t i = 0; i < 10; ++i)
    get(*t, key(i), kSec, &created);  // UDP: 180 s timeout
  get(*t, key(99), 100 * kSec, &created);
  EXPECT_EQ(t->expire(150 * kSec, 1000), 0u);
  EXPECT_EQ(t->expire(182 * kSec, 1000), 10u);
  EXPECT_EQ(t->size(), 1u);
  EXPECT_EQ(t->counters().expired, 10u);
  // A flow looked up after its timeout but before any sweep starts over.
  FlowEntry* e = get(*t, key(99), 1000 * kSec, &created);
  EXPECT_TRUE(created);
  EXPECT_EQ(e->first_ts, 1000 * kSec);
}

TEST(FlowTable, FullTableEvictsLeastRecentlyUsed) {
  const uint32_t cap = 1024;
  auto t = table(cap);
  bool created;
  for (uint32_t i = 0; i < cap; ++i)
    ASSERT_TRUE(get(*t, key(i), kSec + i, &created));
  get(*t, key(0), 5 * kSec, &created);  // flow 0 is now the most recent
  ASSERT_TRUE(get(*t, key(5000), 6 * kSec, &created));
  EXPECT_EQ(t->size(), cap);
  EXPECT_EQ(t->counters().evicted, 1u);
  EXPECT_NE(t->find(key(0), 6 * kSec), nullptr);  // kept
  EXPECT_EQ(t->find(key(1), 6 * kSec), nullptr);  // the LRU one went
  for (uint32_t i = 0; i < 10 * cap; ++i)
    ASSERT_TRUE(get(*t, key(10000 + i), 7 * kSec, &created));
  EXPECT_EQ(t->size(), cap);  // never grows past its budget
  EXPECT_EQ(t->counters().insert_failures, 0u);
}

// The answer-wait list: attempts come due in the order they were made, one
// grace after their packet, and only those; an attempt answered and taken
// off early, or evicted, never comes due.
TEST(FlowTable, AttemptsComeDueOneGraceLaterInOrder) {
  auto t = table(1024);
  bool created;
  std::vector<FlowEntry*> e;
  for (uint32_t i = 0; i < 4; ++i) {
    e.push_back(get(*t, key(i), (10 + i) * kSec, &created));
    ASSERT_TRUE(e.back() && created);
    t->await_answer(e.back(), (10 + i) * kSec, 100 + i);
  }
  t->stop_waiting(e[1]);  // answered for good: never comes due
  std::vector<uint64_t> due;
  auto take = [&](uint64_t now) {
    return t->take_due(now, UINT32_MAX, [&](FlowEntry& f) { due.push_back(f.probe_order); });
  };
  EXPECT_EQ(take(12 * kSec), 0u);             // 3 s grace: nothing before 13 s
  EXPECT_EQ(take(13 * kSec), 1u);             // the first attempt, exactly at its deadline
  EXPECT_EQ(take(15 * kSec + kSec / 2), 1u);  // the second was taken off; the third is due
  EXPECT_EQ(take(UINT64_MAX), 1u);            // end of input: all the rest
  EXPECT_EQ(due, (std::vector<uint64_t>{100, 102, 103}));
  EXPECT_EQ(t->counters().awaiting, 4u);
  EXPECT_EQ(t->counters().awaiting_evicted, 0u);
}

TEST(FlowTable, AttemptsTakenAtMostLimitPerCallRestWait) {
  auto t = table(1024);
  bool created;
  for (uint32_t i = 0; i < 10; ++i)
    t->await_answer(get(*t, key(i), kSec, &created), kSec, i);
  uint32_t n = 0;
  EXPECT_EQ(t->take_due(10 * kSec, 4, [&](FlowEntry&) { ++n; }), 4u);
  EXPECT_TRUE(t->has_due(10 * kSec));
  EXPECT_EQ(t->take_due(10 * kSec, 100, [&](FlowEntry&) { ++n; }), 6u);
  EXPECT_EQ(n, 10u);
  EXPECT_FALSE(t->has_due(UINT64_MAX));
}

TEST(FlowTable, DeadlinesNeverStepBackWhenPacketTimeDoes) {
  auto t = table(1024);
  bool created;
  FlowEntry* a = get(*t, key(1), 20 * kSec, &created);
  t->await_answer(a, 20 * kSec, 1);
  FlowEntry* b = get(*t, key(2), 19 * kSec, &created);  // merged inputs: time steps back
  t->await_answer(b, 19 * kSec, 2);
  EXPECT_EQ(b->answer_by, a->answer_by);  // the list stays in deadline order
  std::vector<uint64_t> due;
  t->take_due(23 * kSec, UINT32_MAX, [&](FlowEntry& f) { due.push_back(f.probe_order); });
  EXPECT_EQ(due, (std::vector<uint64_t>{1, 2}));
}

TEST(FlowTable, AnAttemptEvictedBeforeItsGraceIsCountedNotReported) {
  auto t = table(1024);
  bool created;
  for (uint32_t i = 0; i < 1024; ++i)
    t->await_answer(get(*t, key(i), kSec, &created), kSec, i);
  get(*t, key(5000), kSec, &created);  // full of waiting attempts: one goes
  EXPECT_EQ(t->counters().awaiting_evicted, 1u);
  uint32_t n = 0;
  t->take_due(UINT64_MAX, UINT32_MAX, [&](FlowEntry&) { ++n; });
  EXPECT_EQ(n, 1023u);
}

TEST(FlowTable, AFullTableEvictsConversationsBeforeWaitingAttempts) {
  auto t = table(1024);
  bool created;
  // The oldest 4 flows are attempts still waiting; the rest are not.
  for (uint32_t i = 0; i < 1024; ++i) {
    FlowEntry* e = get(*t, key(i), kSec, &created);
    if (i < 4) t->await_answer(e, kSec, i);
  }
  get(*t, key(5000), kSec, &created);
  EXPECT_EQ(t->counters().awaiting_evicted, 0u);
  EXPECT_EQ(t->counters().evicted, 1u);
  uint32_t n = 0;
  t->take_due(UINT64_MAX, UINT32_MAX, [&](FlowEntry&) { ++n; });
  EXPECT_EQ(n, 4u);
}

// However many of the oldest flows are waiting attempts, a full table
// evicts a conversation; an attempt whose outcome is out is an ordinary,
// evictable flow again.
TEST(FlowTable, WaitingAttemptsAreOffTheLruUntilTheirOutcome) {
  auto t = table(1024);
  bool created;
  for (uint32_t i = 0; i < 1024; ++i) {
    FlowEntry* e = get(*t, key(i), kSec, &created);
    if (i < 1000) t->await_answer(e, kSec, i);
  }
  for (uint32_t i = 0; i < 24; ++i)
    get(*t, key(5000 + i), 2 * kSec, &created);  // evicts the 24 conversations, one by one
  EXPECT_EQ(t->counters().evicted, 24u);
  EXPECT_EQ(t->counters().awaiting_evicted, 0u);
  // The first 10 attempts' outcomes are out: they are flows like any other
  // (the most recent, at the LRU's tail), evicted after the 24 before them.
  EXPECT_EQ(t->take_due(UINT64_MAX, 10, [](FlowEntry&) {}), 10u);
  for (uint32_t i = 0; i < 34; ++i)
    get(*t, key(6000 + i), 3 * kSec, &created);
  EXPECT_EQ(t->counters().evicted, 24u + 34u);
  EXPECT_EQ(t->counters().awaiting_evicted, 0u);
  EXPECT_EQ(t->take_due(UINT64_MAX, UINT32_MAX, [](FlowEntry&) {}), 990u);
}

// A table all but full of waiting attempts: a batch's inserts never evict
// the batch's own flows (one it inserted, or a waiting one it found), even
// where the LRU holds nothing else; the oldest other attempt goes instead.
TEST(FlowTable, ABatchNeverEvictsItsOwnFlows) {
  auto t = table(1024);
  bool created;
  for (uint32_t i = 0; i < 1024; ++i)
    t->await_answer(get(*t, key(i), kSec, &created), kSec, i);
  const FlowKey k0 = key(0), a = key(7000), b = key(7001);  // key(0): the wait list's head
  const FlowKey* keys[3] = {&k0, &a, &b};
  const uint64_t now[3] = {2 * kSec, 2 * kSec, 2 * kSec};
  FlowEntry* out[3] = {};
  bool made[3] = {};
  t->begin_batch();
  t->lookup_or_insert(keys, now, 3, out, made);
  ASSERT_TRUE(out[0] && out[1] && out[2]);
  EXPECT_FALSE(made[0]);
  EXPECT_TRUE(made[1] && made[2]);
  EXPECT_TRUE(out[0] != out[1] && out[1] != out[2] && out[0] != out[2]);
  EXPECT_EQ(out[0]->key.port_lo, k0.port_lo);  // still key(0)'s flow, still waiting
  EXPECT_NE(out[0]->answer_by, 0u);
  EXPECT_EQ(t->counters().awaiting_evicted, 2u);  // key(1) and key(2) went instead
  EXPECT_EQ(t->counters().insert_failures, 0u);
}

// A batch that holds every flow of a full table cannot insert: counted,
// nothing of its own evicted.
TEST(FlowTable, ABatchHoldingTheWholeTableCannotInsert) {
  auto t = table(1024);
  std::vector<FlowKey> ks;
  for (uint32_t i = 0; i < 1025; ++i)
    ks.push_back(key(i));
  t->begin_batch();
  for (uint32_t base = 0; base < 1025; base += FlowTable::kBurst) {
    const uint32_t n = std::min<uint32_t>(FlowTable::kBurst, 1025 - base);
    const FlowKey* kp[FlowTable::kBurst];
    uint64_t now[FlowTable::kBurst];
    FlowEntry* out[FlowTable::kBurst];
    bool made[FlowTable::kBurst];
    for (uint32_t j = 0; j < n; ++j)
      kp[j] = &ks[base + j], now[j] = kSec;
    t->lookup_or_insert(kp, now, n, out, made);
  }
  EXPECT_EQ(t->size(), 1024u);
  EXPECT_EQ(t->counters().insert_failures, 1u);
  EXPECT_EQ(t->counters().evicted, 0u);
}

// Keys that all land in the same two index buckets (CRC32 is linear, so an
// attacker can make them): the index has room for 16 of them; the 17th
// evicts the least recent, it is not left without a flow.
TEST(FlowTable, KeysSharingTheirBucketsEvictTheLeastRecentNotTheNewcomer) {
  FlowIndex probe;
  std::string err;
  ASSERT_TRUE(probe.init(64, 0, &err)) << err;  // the same geometry as the table's index
  std::vector<FlowKey> keys;
  std::pair<uint32_t, uint32_t> pair{};
  for (uint32_t i = 0; keys.size() < 17 && i < 2000000; ++i) {
    const FlowKey k = key(i);
    auto b = probe.buckets_of(FlowIndex::hash(k));
    if (b.first > b.second) std::swap(b.first, b.second);
    if (keys.empty()) pair = b;
    if (b == pair) keys.push_back(k);
  }
  ASSERT_EQ(keys.size(), 17u);
  auto t = table(64);
  bool created = false;
  for (uint32_t i = 0; i < 17; ++i) {
    ASSERT_NE(get(*t, keys[i], 1000 + i, &created), nullptr) << i;
    EXPECT_TRUE(created) << i;
  }
  EXPECT_EQ(t->counters().evicted, 1u);
  EXPECT_EQ(t->counters().insert_failures, 0u);
  EXPECT_EQ(t->size(), 16u);
  EXPECT_EQ(t->find(keys[0], 2000), nullptr) << "the least recent made room";
  for (uint32_t i = 1; i < 17; ++i)
    EXPECT_NE(t->find(keys[i], 2000), nullptr) << i;
}

// The batch number is 16 bits: an old flow whose mark comes round again
// must not pass for one of the current batch (it was: the LRU head was then
// protected, and an insert into a full table failed).
TEST(FlowTable, BatchMarksDoNotComeRoundAgain) {
  auto t = table(2);
  bool created = false;
  ASSERT_NE(get(*t, key(1), 1 * kSec, &created), nullptr);  // batch 1: the LRU head
  ASSERT_NE(get(*t, key(2), 2 * kSec, &created), nullptr);  // batch 2
  for (int i = 0; i < 65534; ++i)
    t->begin_batch();
  // The next batch has the number the first flow was marked with before.
  FlowEntry* c = get(*t, key(3), 3 * kSec, &created);
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(created);
  EXPECT_EQ(t->counters().insert_failures, 0u);
  EXPECT_EQ(t->find(key(1), 3 * kSec), nullptr) << "the least recent flow made room";
}
