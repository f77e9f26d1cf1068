// Published<T>: a reader racing a writer only ever sees whole snapshots.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "engine/published.h"

using namespace harrier;

namespace {
struct Eight {
  uint64_t w[8];
};
}  // namespace

TEST(Published, ReadersNeverSeeATornOrBackwardSnapshot) {
  Published<Eight> p;
  std::atomic<bool> done{false};
  std::thread writer([&] {
    Eight e;
    for (uint64_t v = 1; v <= 200000; ++v) {
      for (auto& x : e.w)
        x = v;
      p.publish(e);
    }
    done = true;
  });
  uint64_t last = 0, reads = 0;
  bool torn = false, backwards = false;
  while (!done.load() || reads < 1000) {
    const Eight e = p.read();
    for (uint64_t x : e.w)
      torn |= x != e.w[0];
    backwards |= e.w[0] < last;
    last = e.w[0];
    ++reads;
  }
  writer.join();
  EXPECT_FALSE(torn);
  EXPECT_FALSE(backwards);
  EXPECT_EQ(p.read().w[7], 200000u);
}
