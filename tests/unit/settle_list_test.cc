// SettleList: a tick looks only at the incidents due by then, earliest
// first; a later time moves an incident's look; a record whose incident was
// restarted (evicted and reused) is dropped; a full list counts what it
// could not take.
#include <gtest/gtest.h>

#include <vector>

#include "detectors/evidence.h"

namespace harrier {
namespace {

TEST(SettleList, VisitsOnlyWhatIsDueEarliestFirst) {
  SettleList list(16);
  std::vector<Incident> inc(4);
  list.add(0, inc[0], 30);
  list.add(1, inc[1], 10);
  list.add(2, inc[2], 20);
  list.add(3, inc[3], 40);
  std::vector<uint32_t> seen;
  auto of = [&](uint32_t i) -> Incident& { return inc[i]; };
  auto visit = [&](uint32_t i) -> uint64_t {
    seen.push_back(i);
    return 0;
  };
  list.sweep(5, of, visit);
  EXPECT_TRUE(seen.empty());
  list.sweep(25, of, visit);
  EXPECT_EQ(seen, (std::vector<uint32_t>{1, 2}));
  list.sweep(UINT64_MAX, of, visit);
  EXPECT_EQ(seen, (std::vector<uint32_t>{1, 2, 0, 3}));
}

TEST(SettleList, ALaterTimeMovesTheLookAndAVisitCanAskAgain) {
  SettleList list(16);
  std::vector<Incident> inc(1);
  auto of = [&](uint32_t i) -> Incident& { return inc[i]; };
  int visits = 0;
  list.add(0, inc[0], 10);
  list.add(0, inc[0], 50);  // grew: look later, still one record
  list.sweep(20, of, [&](uint32_t) -> uint64_t { return ++visits, 0; });
  EXPECT_EQ(visits, 0);
  list.sweep(50, of, [&](uint32_t) -> uint64_t { return ++visits, 70; });  // not yet: at 70
  EXPECT_EQ(visits, 1);
  list.sweep(60, of, [&](uint32_t) -> uint64_t { return ++visits, 0; });
  EXPECT_EQ(visits, 1);
  list.sweep(70, of, [&](uint32_t) -> uint64_t { return ++visits, 65; });  // past: not again
  EXPECT_EQ(visits, 2);
  list.sweep(UINT64_MAX, of, [&](uint32_t) -> uint64_t { return ++visits, 0; });
  EXPECT_EQ(visits, 2);
}

TEST(SettleList, ARestartedIncidentsRecordIsDroppedAndAFullListCounts) {
  SettleList list(2);
  std::vector<Incident> inc(3);
  auto of = [&](uint32_t i) -> Incident& { return inc[i]; };
  list.add(0, inc[0], 10);
  list.add(1, inc[1], 10);
  list.add(2, inc[2], 10);  // full
  EXPECT_EQ(list.overflow(), 1u);
  inc[0] = Incident{};  // its entry evicted and reused by a new incident
  std::vector<uint32_t> seen;
  list.sweep(UINT64_MAX, of, [&](uint32_t i) -> uint64_t { return seen.push_back(i), 0; });
  EXPECT_EQ(seen, (std::vector<uint32_t>{1}));
}

}  // namespace
}  // namespace harrier
