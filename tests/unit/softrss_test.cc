#include <gtest/gtest.h>

#include <random>

#include "engine/source.h"
#include "dataplane/flow_key.h"
#include "dataplane/softrss.h"

using namespace harrier;

TEST(SymmetricHash, BothDirectionsLandOnOneWorker) {
  std::mt19937 rng(7);
  for (int i = 0; i < 10000; ++i) {
    const IpAddr a = IpAddr::v4(rng()), b = IpAddr::v4(rng());
    const uint16_t pa = uint16_t(rng()), pb = uint16_t(rng());
    const uint32_t h1 = symmetric_hash(a, b, pa, pb), h2 = symmetric_hash(b, a, pb, pa);
    ASSERT_EQ(h1, h2);
    for (uint32_t n : {1u, 2u, 3u, 4u, 8u})
      ASSERT_EQ(hash_to_shard(h1, n), hash_to_shard(h2, n));
  }
}

TEST(SymmetricHash, ByteTableEqualsRteSoftrss) {
  std::mt19937 rng(11);
  for (int i = 0; i < 20000; ++i) {
    const uint16_t pa = i % 5 ? uint16_t(rng()) : 0, pb = i % 5 ? uint16_t(rng()) : 0;
    const IpAddr a = IpAddr::v4(rng()), b = IpAddr::v4(rng());
    ASSERT_EQ(symmetric_hash(a, b, pa, pb), symmetric_hash_reference(a, b, pa, pb));
    uint8_t x[16], y[16];
    for (int k = 0; k < 16; ++k)
      x[k] = uint8_t(rng()), y[k] = uint8_t(rng());
    ASSERT_EQ(symmetric_hash(IpAddr::v6(x), IpAddr::v6(y), pa, pb),
              symmetric_hash_reference(IpAddr::v6(x), IpAddr::v6(y), pa, pb));
  }
}

TEST(SymmetricHash, Ipv6IsSymmetricToo) {
  uint8_t x[16], y[16];
  for (int i = 0; i < 16; ++i)
    x[i] = uint8_t(i * 7), y[i] = uint8_t(255 - i);
  EXPECT_EQ(symmetric_hash(IpAddr::v6(x), IpAddr::v6(y), 1, 2),
            symmetric_hash(IpAddr::v6(y), IpAddr::v6(x), 2, 1));
}

TEST(SymmetricHash, SpreadsFlowsOverWorkers) {
  std::mt19937 rng(9);
  int counts[4] = {};
  for (int i = 0; i < 40000; ++i)
    ++counts[hash_to_shard(
        symmetric_hash(IpAddr::v4(rng()), IpAddr::v4(rng()), uint16_t(rng()), 80), 4)];
  for (int c : counts)
    EXPECT_NEAR(c, 10000, 1000);
}

TEST(SymmetricHash, IcmpErrorFollowsTheFlowItQuotes) {
  PacketView flow{}, err{};
  flow.ip_version = 4;
  flow.src = IpAddr::v4(0x0a000001), flow.dst = IpAddr::v4(0xc6336401);
  flow.proto = L4Proto::kUdp, flow.ip_proto = 17, flow.sport = 5353, flow.dport = 161;
  err.ip_version = 4;
  err.src = IpAddr::v4(0xc6336401), err.dst = IpAddr::v4(0x0a000001);
  err.proto = L4Proto::kIcmp, err.ip_proto = 1, err.icmp_type = 3;
  err.quoted.present = true, err.quoted.src = flow.src, err.quoted.dst = flow.dst;
  err.quoted.ip_proto = 17, err.quoted.has_ports = true, err.quoted.sport = 5353,
  err.quoted.dport = 161;
  EXPECT_EQ(packet_flow_hash(flow), packet_flow_hash(err));
  FlowKey a, b;
  packet_flow_key(flow, a);
  quoted_flow_key(err.quoted, b);
  EXPECT_EQ(0, memcmp(&a, &b, sizeof a));
}

// Timestamp units sit beside the hash tests: both are about how the rx stage
// reads what the PMD hands it.
TEST(TimestampScale, LearnsTheUnitFromTheFirstPacket) {
  const uint64_t first = 964109965123456000ull;            // 2000-07-20, ns
  EXPECT_EQ(timestamp_scale(first / 1000, first), 1000u);  // DPDK 22.11 pcap PMD: us
  EXPECT_EQ(timestamp_scale(first, first), 1u);            // ns
  EXPECT_EQ(timestamp_scale(first / 1'000'000'000, first), 1'000'000'000u);
  EXPECT_EQ(timestamp_scale(12345, 0), 1u);  // live: nothing to learn from
}
