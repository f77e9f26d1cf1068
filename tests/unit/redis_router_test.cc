// Cluster's hash slots, as Redis computes them (CLUSTER KEYSLOT): the
// router must send each key where the cluster serves it.
#include <gtest/gtest.h>

#include "control/correlation_config.h"
#include "control/redis_router.h"

namespace harrier {
namespace {

TEST(RedisKeySlot, MatchesRedis) {
  EXPECT_EQ(redis_key_slot("123456789"), 12739);  // CRC16-XMODEM 0x31C3
  EXPECT_EQ(redis_key_slot("foo"), 12182);
  EXPECT_EQ(redis_key_slot("bar"), 5061);
  EXPECT_EQ(redis_key_slot(""), 0);
}

TEST(RedisKeySlot, HashTagsPickTheSlot) {
  EXPECT_EQ(redis_key_slot("{user1000}.following"), redis_key_slot("user1000"));
  EXPECT_EQ(redis_key_slot("foo{}{bar}"), redis_key_slot("foo{}{bar}"));  // empty tag: whole key
  EXPECT_NE(redis_key_slot("foo{}{bar}"), redis_key_slot("bar"));
  EXPECT_EQ(redis_key_slot("foo{{bar}}zap"), redis_key_slot("{bar"));
  EXPECT_EQ(redis_key_slot("foo{bar}{zap}"), redis_key_slot("bar"));
}

TEST(RedisKeySlot, APartitionsKeysShareItsSlot) {
  CorrelationConfig c;
  for (uint32_t p = 0; p < 16; ++p) {
    EXPECT_EQ(redis_key_slot(c.stream(p)), redis_key_slot(std::to_string(p)));
    EXPECT_EQ(redis_key_slot(c.lease(p)), redis_key_slot(c.stream(p)));
    EXPECT_EQ(redis_key_slot(c.checkpoint(p)), redis_key_slot(c.stream(p)));
  }
}

}  // namespace
}  // namespace harrier
