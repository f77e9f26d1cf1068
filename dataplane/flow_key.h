// Bidirectional flow key: the two endpoints in canonical order, so that a
// packet and its reply build the same key. 40 bytes, a multiple of 8 that
// rte_hash compares quickly.
#pragma once

#include <cstdint>
#include <cstring>

#include "dataplane/packet.h"

namespace harrier {

// Aligned for rte_hash_crc, which loads the key 8 bytes at a time.
struct alignas(8) FlowKey {
  uint8_t addr_lo[16];
  uint8_t addr_hi[16];
  uint16_t port_lo;
  uint16_t port_hi;
  uint8_t proto;
  uint8_t family;
  uint8_t pad[2];
};
static_assert(sizeof(FlowKey) == 40);

// Keys are built zeroed (padding included), so bytes compare.
inline bool operator==(const FlowKey& a, const FlowKey& b) {
  return std::memcmp(&a, &b, sizeof(FlowKey)) == 0;
}

// Builds the canonical key of (src:sport -> dst:dport). Returns true when src
// is the "lo" endpoint, which tells the caller the packet's direction.
inline bool make_flow_key(const IpAddr& src, const IpAddr& dst, uint16_t sport, uint16_t dport,
                          uint8_t proto, FlowKey& k) {
  std::memset(&k, 0, sizeof(k));
  // memcmp's order (bytes left to right) is the order of the big-endian
  // words; compared inline, not by a libc call per packet.
  uint64_t s[2], d[2];
  std::memcpy(s, src.bytes, 16);
  std::memcpy(d, dst.bytes, 16);
  const uint64_t s0 = __builtin_bswap64(s[0]), d0 = __builtin_bswap64(d[0]);
  const uint64_t s1 = __builtin_bswap64(s[1]), d1 = __builtin_bswap64(d[1]);
  const bool src_is_lo = s0 != d0 ? s0 < d0 : s1 != d1 ? s1 < d1 : sport <= dport;
  const IpAddr& lo = src_is_lo ? src : dst;
  const IpAddr& hi = src_is_lo ? dst : src;
  std::memcpy(k.addr_lo, lo.bytes, 16);
  std::memcpy(k.addr_hi, hi.bytes, 16);
  k.port_lo = src_is_lo ? sport : dport;
  k.port_hi = src_is_lo ? dport : sport;
  k.proto = proto;
  k.family = src.family;
  return src_is_lo;
}

// The key of the flow a decoded packet belongs to (ICMP echo uses its id as
// both ports so request and reply meet). Not for ICMP errors: those belong to
// the flow they quote (see quoted_flow_key).
inline bool packet_flow_key(const PacketView& v, FlowKey& k) {
  uint16_t sp = 0, dp = 0;
  if (v.has_ports()) {
    sp = v.sport;
    dp = v.dport;
  } else if ((v.proto == L4Proto::kIcmp &&
              (v.icmp_type == 8 || v.icmp_type == 0 || v.icmp_type == 13 || v.icmp_type == 14)) ||
             (v.proto == L4Proto::kIcmp6 && (v.icmp_type == 128 || v.icmp_type == 129))) {
    sp = dp = v.icmp_id;
  }
  return make_flow_key(v.src, v.dst, sp, dp, v.ip_proto, k);
}

// The key of the flow an ICMP error quotes. Returns true when the quoted
// packet's source is the "lo" endpoint.
inline bool quoted_flow_key(const QuotedPacket& q, FlowKey& k) {
  const uint16_t sp = q.has_ports ? q.sport : q.has_icmp_id ? q.icmp_id : 0;
  const uint16_t dp = q.has_ports ? q.dport : q.has_icmp_id ? q.icmp_id : 0;
  return make_flow_key(q.src, q.dst, sp, dp, q.ip_proto, k);
}

}  // namespace harrier
