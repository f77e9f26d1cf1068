// Capture filters: for each expression and each frame, harrier's verdict (the
// libpcap program converted to eBPF and JIT-compiled by DPDK) equals
// libpcap's own (pcap_offline_filter on the same bytes), which is what
// tcpdump -r applies. Bad expressions are refused with libpcap's message.
#include <gtest/gtest.h>

#include <pcap/pcap.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <cstring>
#include <string>
#include <vector>

#include "capture/packet_filter.h"

using namespace harrier;

namespace {

using Bytes = std::vector<uint8_t>;

void put16(Bytes& b, uint16_t v) {
  b.push_back(uint8_t(v >> 8));
  b.push_back(uint8_t(v));
}

Bytes ether(uint16_t type, bool vlan = false) {
  Bytes b = {0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2};
  if (vlan) {
    put16(b, 0x8100);
    put16(b, 42);
  }
  put16(b, type);
  return b;
}

// IPv4 header + L4 bytes; src/dst as dotted quads' last octet on 172.16.14.x / 198.51.100.x.
Bytes ipv4(uint8_t proto, const Bytes& l4, uint8_t src_last, uint8_t dst_last, bool vlan = false,
           uint16_t frag = 0) {
  Bytes b = ether(0x0800, vlan);
  const uint16_t total = uint16_t(20 + l4.size());
  const uint8_t hdr[20] = {0x45,
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
                           198,
                           51,
                           100,
                           src_last,
                           172,
                           16,
                           14,
                           dst_last};
  for (uint8_t x : hdr)
    b.push_back(x);
  for (uint8_t x : l4)
    b.push_back(x);
  return b;
}

Bytes tcp(uint16_t sport, uint16_t dport, uint8_t flags, size_t payload = 0) {
  Bytes t(20 + payload, 0x41);
  t[0] = uint8_t(sport >> 8), t[1] = uint8_t(sport);
  t[2] = uint8_t(dport >> 8), t[3] = uint8_t(dport);
  for (int i = 4; i < 12; ++i)
    t[i] = uint8_t(i - 4);
  t[12] = 0x50, t[13] = flags;
  t[14] = 0x04, t[15] = 0x00;  // window 1024
  t[16] = t[17] = t[18] = t[19] = 0;
  return t;
}

// Sized up front and filled by index: GCC 12 at -O3 misreads growing small
// vectors (-Warray-bounds), and CI builds with -Werror.
Bytes udp(uint16_t sport, uint16_t dport, size_t payload) {
  Bytes u(8 + payload, 0x42);
  u[0] = uint8_t(sport >> 8), u[1] = uint8_t(sport);
  u[2] = uint8_t(dport >> 8), u[3] = uint8_t(dport);
  u[4] = uint8_t((8 + payload) >> 8), u[5] = uint8_t(8 + payload);
  u[6] = u[7] = 0;
  return u;
}

Bytes icmp(uint8_t type, uint8_t code) {
  Bytes i(36, 0);
  i[0] = type, i[1] = code, i[5] = 1, i[7] = 1;
  return i;
}

Bytes ipv6_tcp(uint16_t dport) {
  Bytes b = ether(0x86DD);
  const Bytes t = tcp(40000, dport, 0x02);
  const uint8_t hdr[8] = {0x60, 0, 0, 0, 0, uint8_t(t.size()), 6, 64};
  for (uint8_t x : hdr)
    b.push_back(x);
  for (int i = 0; i < 32; ++i)
    b.push_back(uint8_t(i == 15 || i == 31 ? 1 : i < 2 ? 0xfd : 0));
  for (uint8_t x : t)
    b.push_back(x);
  return b;
}

Bytes arp() {
  Bytes b = ether(0x0806);
  for (int i = 0; i < 28; ++i)
    b.push_back(0);
  return b;
}

std::vector<Bytes> frames() {
  return {
      ipv4(6, tcp(1023, 111, 0x02), 251, 1),                // SYN to the portmapper
      ipv4(17, udp(1023, 111, 56), 251, 1),                 // UDP GETPORT
      ipv4(17, udp(137, 137, 50), 176, 20),                 // NBNS
      ipv4(6, tcp(20766, 1107, 0x14), 11, 3),               // RST|ACK backscatter
      ipv4(6, tcp(40000, 80, 0x18, 300), 7, 20),            // data to a web server
      ipv4(1, icmp(8, 0), 90, 60),                          // echo request
      ipv4(1, icmp(3, 1), 1, 7),                            // host unreachable
      ipv4(1, icmp(11, 0), 1, 8),                           // time exceeded
      ipv4(6, tcp(40001, 22, 0x29), 14, 1),                 // XMAS
      ipv4(6, tcp(40002, 23, 0x02), 9, 1, true),            // SYN in a VLAN
      ipv4(17, udp(53, 40000, 100), 53, 9, false, 0x2000),  // first fragment
      ipv4(17, {}, 53, 9, false, 0x0010),                   // later fragment
      ipv6_tcp(443),
      arp(),
  };
}

rte_mempool* pool() {
  static rte_mempool* p =
      rte_pktmbuf_pool_create("filter_test", 256, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
  return p;
}

}  // namespace

TEST(PacketFilter, VerdictsEqualLibpcapsForEveryFrame) {
  const char* exprs[] = {
      "tcp port 111",
      "udp and dst port 137",
      "port 111 or port 137",
      "icmp",
      "icmp[icmptype] == icmp-unreach or icmp[icmptype] == icmp-timxceed",
      "icmp[0] == 3 or icmp[0] == 8",
      "tcp[13] == 2 or tcp[13] == 0x14",
      "udp[8:2] == 0x8001 or udp dst port 137",
      "tcp[tcpflags] & tcp-rst != 0",
      "tcp[tcpflags] & (tcp-fin|tcp-push|tcp-urg) == (tcp-fin|tcp-push|tcp-urg)",
      "dst net 172.16.14.0/24 and not tcp",
      "src host 198.51.100.251",
      "greater 100",
      "less 64",
      "ip6",
      "arp",
      "vlan and tcp",
      "(tcp or udp) and not port 53",
      "ip[6:2] & 0x1fff != 0",
      "",
  };
  ASSERT_NE(pool(), nullptr);
  pcap_t* dead = pcap_open_dead(DLT_EN10MB, 65535);
  for (const char* e : exprs) {
    std::string err;
    auto f = PacketFilter::compile(e, 65535, &err);
    ASSERT_TRUE(f) << e << ": " << err;
    bpf_program prog{};
    ASSERT_EQ(pcap_compile(dead, &prog, e, 1, PCAP_NETMASK_UNKNOWN), 0) << e;
    int kept = 0;
    for (const Bytes& fr : frames()) {
      rte_mbuf* m = rte_pktmbuf_alloc(pool());
      ASSERT_NE(m, nullptr);
      std::memcpy(rte_pktmbuf_append(m, uint16_t(fr.size())), fr.data(), fr.size());
      pcap_pkthdr h{};
      h.caplen = h.len = uint32_t(fr.size());
      const bool want = pcap_offline_filter(&prog, &h, fr.data()) != 0;
      EXPECT_EQ(f->matches(m), want) << "'" << e << "' on a frame of " << fr.size() << " bytes";
      kept += want;
      rte_pktmbuf_free(m);
    }
    // Every expression keeps something and drops something (but the empty one).
    if (*e) {
      EXPECT_TRUE(kept > 0 && kept < int(frames().size())) << e << " kept " << kept;
    }
    pcap_freecode(&prog);
  }
  pcap_close(dead);
}

TEST(PacketFilter, EmptyKeepsEverythingAndJitIsUsed) {
  std::string err;
  auto all = PacketFilter::compile("  ", 65535, &err);
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->keeps_everything());
  auto f = PacketFilter::compile("tcp", 65535, &err);
  ASSERT_TRUE(f) << err;
  EXPECT_TRUE(f->jitted());  // x86-64: DPDK ships a JIT
  EXPECT_GT(f->instructions(), 0u);
  // Indirect loads run interpreted (DPDK's JIT mishandles them).
  auto ind = PacketFilter::compile("tcp[tcpflags] & tcp-syn != 0", 65535, &err);
  ASSERT_TRUE(ind) << err;
  EXPECT_FALSE(ind->jitted());
}

TEST(PacketFilter, BadExpressionsAreRefusedWithLibpcapsMessage) {
  std::string err;
  EXPECT_FALSE(PacketFilter::compile("tcp port 99999", 65535, &err));
  EXPECT_NE(err.find("capture filter 'tcp port 99999': illegal port number 99999 > 65535"),
            std::string::npos)
      << err;
  EXPECT_FALSE(PacketFilter::compile("tcp and and udp", 65535, &err));
  EXPECT_NE(err.find("syntax error"), std::string::npos) << err;
  EXPECT_FALSE(PacketFilter::compile("host no.such.name.invalid", 65535, &err));
  EXPECT_NE(err.find("capture filter 'host no.such.name.invalid'"), std::string::npos) << err;
}
