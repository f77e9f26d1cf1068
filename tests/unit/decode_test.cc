#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "dataplane/decode.h"

using namespace harrier;

namespace {
std::vector<uint8_t> eth(uint16_t type) {
  return {0, 0, 0x5e, 0, 0x53, 2, 0, 0, 0x5e, 0, 0x53, 1, uint8_t(type >> 8), uint8_t(type)};
}
void ipv4(std::vector<uint8_t>& p, uint8_t proto, uint16_t l4_len, uint8_t ihl_words = 5,
          uint16_t frag = 0x4000) {
  const uint16_t total = uint16_t(ihl_words * 4 + l4_len);
  std::vector<uint8_t> h = {uint8_t(0x40 | ihl_words),
                            0,
                            uint8_t(total >> 8),
                            uint8_t(total),
                            0x12,
                            0x34,
                            uint8_t(frag >> 8),
                            uint8_t(frag),
                            64,
                            proto,
                            0,
                            0,
                            203,
                            0,
                            113,
                            5,
                            172,
                            16,
                            14,
                            1};
  for (int i = 5; i < ihl_words; ++i)
    h.insert(h.end(), {1, 1, 1, 1});  // NOP options
  p.insert(p.end(), h.begin(), h.end());
}
// The seed's first-generation nmap probe options: wscale 10, nop, mss 265, timestamp, eol.
std::vector<uint8_t> nmap_tcp(uint8_t flags_lo, uint8_t reserved) {
  std::vector<uint8_t> t = {
      0x04,     0xd2, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, uint8_t(0xA0 | reserved),
      flags_lo, 0x08, 0x00, 0,    0, 0, 0};
  const std::vector<uint8_t> opts = {3,    3,    10,   1,    2, 4, 1, 9, 8, 10,
                                     0x3f, 0x3f, 0x3f, 0x3f, 0, 0, 0, 0, 0, 0};
  t.insert(t.end(), opts.begin(), opts.end());
  return t;
}
}  // namespace

TEST(Decode, TcpFlagsAndOptionsInOrder) {
  auto p = eth(0x0800);
  auto tcp = nmap_tcp(0x02 | 0x40 | 0x80, 0x0E);  // SYN|ECE|CWR + the three reserved bits
  ipv4(p, 6, uint16_t(tcp.size()));
  p.insert(p.end(), tcp.begin(), tcp.end());
  PacketView v;
  ASSERT_EQ(decode(p.data(), uint32_t(p.size()), uint32_t(p.size()), v), DecodeError::kNone);
  EXPECT_EQ(v.proto, L4Proto::kTcp);
  EXPECT_EQ(v.sport, 1234);
  EXPECT_EQ(v.dport, 80);
  EXPECT_EQ(v.tcp_flags & 0xFF, tcp_flag::kSyn | tcp_flag::kEce | tcp_flag::kCwr);
  EXPECT_EQ(v.tcp_flags & tcp_flag::kReserved, tcp_flag::kReserved);
  EXPECT_TRUE(v.tcp_opts.has_wscale);
  EXPECT_EQ(v.tcp_opts.wscale, 10);
  EXPECT_EQ(v.tcp_opts.mss, 265);
  EXPECT_TRUE(v.tcp_opts.has_timestamp);
  ASSERT_GE(v.tcp_opts.count, 5);
  const uint8_t order[] = {3, 1, 2, 8, 0};
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(v.tcp_opts.kinds[i], order[i]) << i;
  EXPECT_FALSE(v.tcp_opts.malformed);
}

TEST(Decode, VlanQinQAndIpOptions) {
  std::vector<uint8_t> p = {0, 0,    0x5e, 0,    0x53, 2,    0,    0,    0x5e, 0,    0x53,
                            1, 0x88, 0xa8, 0x00, 0x64, 0x81, 0x00, 0x00, 0xc8, 0x08, 0x00};
  ipv4(p, 17, 8, 7);
  p.insert(p.end(), {0x00, 0x89, 0x00, 0x89, 0x00, 0x08, 0, 0});
  PacketView v;
  ASSERT_EQ(decode(p.data(), uint32_t(p.size()), uint32_t(p.size()), v), DecodeError::kNone);
  EXPECT_EQ(v.vlan_count, 2);
  EXPECT_EQ(v.vlan_ids[0], 100);
  EXPECT_EQ(v.vlan_ids[1], 200);
  EXPECT_EQ(v.ip_options_len, 8);
  EXPECT_EQ(v.dport, 137);
}

TEST(Decode, LaterFragmentHasNoPorts) {
  auto p = eth(0x0800);
  ipv4(p, 17, 8, 5, 0x0010);
  p.insert(p.end(), {1, 2, 3, 4, 5, 6, 7, 8});
  PacketView v;
  ASSERT_EQ(decode(p.data(), uint32_t(p.size()), uint32_t(p.size()), v), DecodeError::kNone);
  EXPECT_TRUE(v.is_later_fragment);
  EXPECT_FALSE(v.has_ports());
}

TEST(Decode, Ipv6WithExtensionHeaderAndIcmpErrorQuote) {
  std::vector<uint8_t> p = eth(0x86DD);
  // IPv6 header: next = hop-by-hop (0), then ICMPv6 (58).
  std::vector<uint8_t> ip6 = {0x60, 0, 0, 0, 0, 0, 0, 64};
  uint8_t src[16] = {0x20, 0x01, 0x0d, 0xb8}, dst[16] = {0xfd, 0};
  src[15] = 1, dst[15] = 2;
  ip6.insert(ip6.end(), src, src + 16);
  ip6.insert(ip6.end(), dst, dst + 16);
  std::vector<uint8_t> hbh = {58, 0, 1, 4, 0, 0, 0, 0};
  // ICMPv6 destination unreachable quoting an IPv6/UDP packet.
  std::vector<uint8_t> icmp = {1, 4, 0, 0, 0, 0, 0, 0};
  std::vector<uint8_t> inner = {0x60, 0, 0, 0, 0, 8, 17, 9};
  inner.insert(inner.end(), dst, dst + 16);
  inner.insert(inner.end(), src, src + 16);
  inner.insert(inner.end(), {0x13, 0x88, 0x00, 0x35, 0, 8, 0, 0});
  icmp.insert(icmp.end(), inner.begin(), inner.end());
  const uint16_t plen = uint16_t(hbh.size() + icmp.size());
  ip6[4] = uint8_t(plen >> 8), ip6[5] = uint8_t(plen);
  p.insert(p.end(), ip6.begin(), ip6.end());
  p.insert(p.end(), hbh.begin(), hbh.end());
  p.insert(p.end(), icmp.begin(), icmp.end());
  PacketView v;
  ASSERT_EQ(decode(p.data(), uint32_t(p.size()), uint32_t(p.size()), v), DecodeError::kNone);
  EXPECT_EQ(v.proto, L4Proto::kIcmp6);
  ASSERT_TRUE(v.quoted.present);
  EXPECT_EQ(v.quoted.ip_proto, 17);
  EXPECT_EQ(v.quoted.sport, 5000);
  EXPECT_EQ(v.quoted.dport, 53);
  EXPECT_EQ(v.quoted.ttl, 9);
}

TEST(Decode, MalformedInputsAreNamed) {
  PacketView v;
  std::vector<uint8_t> p = eth(0x0800);
  EXPECT_EQ(decode(p.data(), 10, 10, v), DecodeError::kTruncatedEthernet);
  EXPECT_EQ(decode(p.data(), uint32_t(p.size()), uint32_t(p.size()), v),
            DecodeError::kTruncatedIpv4);
  ipv4(p, 6, 20);
  p.push_back(0);  // one byte of a 20-byte TCP header
  EXPECT_EQ(decode(p.data(), uint32_t(p.size()), uint32_t(p.size()), v),
            DecodeError::kTruncatedTcp);
  auto q = eth(0x0800);
  ipv4(q, 6, 20);
  q[14] = 0x43;  // IHL 3 words
  EXPECT_EQ(decode(q.data(), uint32_t(q.size()), uint32_t(q.size()), v),
            DecodeError::kBadIpv4Header);
  auto a = eth(0x0806);
  a.resize(42);
  EXPECT_EQ(decode(a.data(), uint32_t(a.size()), uint32_t(a.size()), v), DecodeError::kNotIp);
}

TEST(Decode, TcpOptionLengthPastHeaderIsMalformedNotRead) {
  auto p = eth(0x0800);
  auto tcp = nmap_tcp(0x02, 0);
  tcp[20 + 1] = 40;  // wscale claims 40 bytes
  ipv4(p, 6, uint16_t(tcp.size()));
  p.insert(p.end(), tcp.begin(), tcp.end());
  PacketView v;
  EXPECT_EQ(decode(p.data(), uint32_t(p.size()), uint32_t(p.size()), v), DecodeError::kNone);
  EXPECT_TRUE(v.tcp_opts.malformed);
}

// Random and mutated bytes must never read out of bounds (run under ASan in
// the sanitizer build) and the view must stay inside the buffer.
TEST(Decode, RandomBytesStayInBounds) {
  std::mt19937 rng(12345);
  auto base = eth(0x0800);
  auto tcp = nmap_tcp(0x02, 0);
  ipv4(base, 6, uint16_t(tcp.size()));
  base.insert(base.end(), tcp.begin(), tcp.end());
  for (int iter = 0; iter < 200000; ++iter) {
    std::vector<uint8_t> buf = base;
    const int flips = 1 + int(rng() % 6);
    for (int f = 0; f < flips; ++f)
      buf[rng() % buf.size()] = uint8_t(rng());
    buf.resize(rng() % (buf.size() + 1));
    std::vector<uint8_t> exact(buf);  // exact-size heap copy: ASan sees overreads
    PacketView v;
    decode(exact.data(), uint32_t(exact.size()), uint32_t(exact.size()), v);
    if (v.payload) {
      ASSERT_GE(v.payload, exact.data());
      ASSERT_LE(v.payload + v.payload_len, exact.data() + exact.size());
    }
  }
}

// A payload length of 0xFFFF plus the 40-byte header does not fit 16 bits;
// wrapped, it once made the L4 length huge and decode read past the frame.
TEST(Decode, Ipv6PayloadLengthNearMaxStaysWithinTheFrame) {
  for (uint8_t next : {uint8_t(6), uint8_t(17), uint8_t(58)}) {
    std::vector<uint8_t> p = eth(0x86DD);
    std::vector<uint8_t> ip6(40, 0);
    ip6[0] = 0x60, ip6[4] = 0xFF, ip6[5] = 0xFF, ip6[6] = next, ip6[7] = 64;
    p.insert(p.end(), ip6.begin(), ip6.end());
    PacketView v;
    const DecodeError e = decode(p.data(), uint32_t(p.size()), uint32_t(p.size()), v);
    EXPECT_NE(e, DecodeError::kNone) << int(next);
    EXPECT_EQ(v.payload_len, 0) << int(next);
    EXPECT_EQ(v.ip_total_len, 0xFFFF) << int(next);
  }
  // With a whole UDP header, what follows it is what the frame holds.
  std::vector<uint8_t> p = eth(0x86DD);
  std::vector<uint8_t> ip6(40, 0);
  ip6[0] = 0x60, ip6[4] = 0xFF, ip6[5] = 0xFF, ip6[6] = 17, ip6[7] = 64;
  p.insert(p.end(), ip6.begin(), ip6.end());
  p.insert(p.end(), {0x13, 0x88, 0x00, 0x35, 0, 20, 0, 0, 1, 2, 3, 4});
  PacketView v;
  EXPECT_EQ(decode(p.data(), uint32_t(p.size()), uint32_t(p.size()), v), DecodeError::kNone);
  EXPECT_EQ(v.payload_len, 4);
}
