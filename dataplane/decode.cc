#include "dataplane/decode.h"

#include <algorithm>
#include <cstring>

namespace harrier {
namespace {

constexpr uint16_t kEtherIpv4 = 0x0800;
constexpr uint16_t kEtherIpv6 = 0x86DD;
constexpr uint16_t kEtherVlan = 0x8100;
constexpr uint16_t kEtherQinQ = 0x88A8;
constexpr uint16_t kEtherQinQOld = 0x9100;

inline uint16_t rd16(const uint8_t* p) {
  return uint16_t(p[0] << 8 | p[1]);
}
inline L4Proto l4_proto_of(uint8_t ip_proto) {
  switch (ip_proto) {
    case 1:
      return L4Proto::kIcmp;
    case 6:
      return L4Proto::kTcp;
    case 17:
      return L4Proto::kUdp;
    case 58:
      return L4Proto::kIcmp6;
    default:
      return L4Proto::kOther;
  }
}

inline uint32_t rd32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}

void parse_tcp_options(const uint8_t* p, uint32_t len, TcpOptions& o) noexcept {
  uint32_t i = 0;
  while (i < len) {
    const uint8_t kind = p[i];
    if (o.count < TcpOptions::kMaxKinds) o.kinds[o.count++] = kind;
    if (kind == 0) break;  // EOL: the rest is padding
    if (kind == 1) {       // NOP
      ++i;
      continue;
    }
    if (i + 1 >= len) {
      o.malformed = true;
      return;
    }
    const uint8_t olen = p[i + 1];
    if (olen < 2 || i + olen > len) {
      o.malformed = true;
      return;
    }
    const uint8_t* v = p + i + 2;
    switch (kind) {
      case 2:
        if (olen == 4) o.has_mss = true, o.mss = rd16(v);
        break;
      case 3:
        if (olen == 3) o.has_wscale = true, o.wscale = v[0];
        break;
      case 4:
        if (olen == 2) o.has_sack_ok = true;
        break;
      case 8:
        if (olen == 10) o.has_timestamp = true, o.ts_val = rd32(v), o.ts_ecr = rd32(v + 4);
        break;
      default:
        break;
    }
    i += olen;
  }
}

// Fills the quoted inner packet of an ICMP error. Quotes are often shorter
// than a full header chain: take what is there and mark what is not.
void parse_quote(const uint8_t* p, uint32_t len, QuotedPacket& q) noexcept {
  if (len < 1) return;
  const uint8_t version = p[0] >> 4;
  const uint8_t* l4 = nullptr;
  uint32_t l4_len = 0;
  if (version == 4) {
    if (len < 20) return;
    const uint32_t ihl = uint32_t(p[0] & 0x0F) * 4;
    if (ihl < 20 || ihl > len) return;
    uint32_t a, b;
    std::memcpy(&a, p + 12, 4);
    std::memcpy(&b, p + 16, 4);
    q.src = IpAddr::v4(a);
    q.dst = IpAddr::v4(b);
    q.ttl = p[8];
    q.ip_proto = p[9];
    const bool later_fragment = (rd16(p + 6) & 0x1FFF) != 0;
    if (!later_fragment) l4 = p + ihl, l4_len = len - ihl;
  } else if (version == 6) {
    if (len < 40) return;
    q.src = IpAddr::v6(p + 8);
    q.dst = IpAddr::v6(p + 24);
    q.ttl = p[7];
    q.ip_proto = p[6];
    l4 = p + 40;
    l4_len = len - 40;
  } else {
    return;
  }
  q.present = true;
  q.proto = l4_proto_of(q.ip_proto);
  if (l4 && (q.ip_proto == 6 || q.ip_proto == 17) && l4_len >= 4) {
    q.sport = rd16(l4);
    q.dport = rd16(l4 + 2);
    q.has_ports = true;
    if (q.ip_proto == 6 && l4_len >= 8) q.tcp_seq = rd32(l4 + 4), q.has_seq = true;
  } else if (l4 && l4_len >= 6 &&
             ((q.ip_proto == 1 && (l4[0] == 8 || l4[0] == 0 || l4[0] == 13 || l4[0] == 14)) ||
              (q.ip_proto == 58 && (l4[0] == 128 || l4[0] == 129)))) {
    // A quoted echo (a home host's ping or traceroute -I): its id keys the flow.
    q.icmp_id = rd16(l4 + 4);
    q.has_icmp_id = true;
  }
}

DecodeError decode_l4(const uint8_t* p, uint32_t len, PacketView& v) noexcept {
  v.l4 = p;
  switch (v.ip_proto) {
    case 6: {
      v.proto = L4Proto::kTcp;
      if (len < 20) return DecodeError::kTruncatedTcp;
      const uint32_t doff = uint32_t(p[12] >> 4) * 4;
      v.sport = rd16(p);
      v.dport = rd16(p + 2);
      v.tcp_seq = rd32(p + 4);
      v.tcp_ack = rd32(p + 8);
      v.tcp_flags = uint16_t(p[13]) | uint16_t((p[12] & 0x0F) << 8);
      v.tcp_window = rd16(p + 14);
      v.tcp_urgent = rd16(p + 18);
      if (doff < 20) return DecodeError::kBadTcpHeader;
      if (doff > len) return DecodeError::kTruncatedTcp;
      parse_tcp_options(p + 20, doff - 20, v.tcp_opts);
      v.payload = p + doff;
      v.payload_len = uint16_t(len - doff);
      return DecodeError::kNone;
    }
    case 17: {
      v.proto = L4Proto::kUdp;
      if (len < 8) return DecodeError::kTruncatedUdp;
      v.sport = rd16(p);
      v.dport = rd16(p + 2);
      v.payload = p + 8;
      v.payload_len = uint16_t(len - 8);
      return DecodeError::kNone;
    }
    case 1:
    case 58: {
      v.proto = v.ip_proto == 1 ? L4Proto::kIcmp : L4Proto::kIcmp6;
      if (len < 8) return DecodeError::kTruncatedIcmp;
      v.icmp_type = p[0];
      v.icmp_code = p[1];
      v.icmp_id = rd16(p + 4);
      v.icmp_seq = rd16(p + 6);
      v.payload = p + 8;
      v.payload_len = uint16_t(len - 8);
      // Errors: v4 unreachable(3), source quench(4), redirect(5), time
      // exceeded(11), parameter problem(12); v6 types 1-4.
      const bool error = v.ip_proto == 1 ? (v.icmp_type >= 3 && v.icmp_type <= 5) ||
                                               v.icmp_type == 11 || v.icmp_type == 12
                                         : v.icmp_type >= 1 && v.icmp_type <= 4;
      if (error) parse_quote(p + 8, len - 8, v.quoted);
      return DecodeError::kNone;
    }
    default:
      v.proto = L4Proto::kOther;
      v.payload = p;
      v.payload_len = uint16_t(len);
      return DecodeError::kNone;
  }
}

DecodeError decode_ipv4(const uint8_t* p, uint32_t len, PacketView& v) noexcept {
  if (len < 20) return DecodeError::kTruncatedIpv4;
  const uint32_t ihl = uint32_t(p[0] & 0x0F) * 4;
  if ((p[0] >> 4) != 4 || ihl < 20) return DecodeError::kBadIpv4Header;
  if (ihl > len) return DecodeError::kTruncatedIpv4;
  v.ip_version = 4;
  v.tos = p[1];
  v.ip_total_len = rd16(p + 2);
  v.ip_id = rd16(p + 4);
  const uint16_t frag = rd16(p + 6);
  v.dont_fragment = frag & 0x4000;
  v.is_fragment = (frag & 0x2000) || (frag & 0x1FFF);
  v.is_later_fragment = (frag & 0x1FFF) != 0;
  v.ttl = p[8];
  v.ip_proto = p[9];
  uint32_t a, b;
  std::memcpy(&a, p + 12, 4);
  std::memcpy(&b, p + 16, 4);
  v.src = IpAddr::v4(a);
  v.dst = IpAddr::v4(b);
  v.ip_options_len = uint16_t(ihl - 20);
  if (v.ip_total_len < ihl) return DecodeError::kBadIpv4Header;
  // Ethernet pads short frames: trust the IP length when it is shorter.
  uint32_t l3_len = len;
  if (v.ip_total_len < l3_len) l3_len = v.ip_total_len;
  if (v.is_later_fragment) {
    v.proto = l4_proto_of(v.ip_proto);
    v.payload = p + ihl;
    v.payload_len = uint16_t(l3_len - ihl);
    return DecodeError::kNone;
  }
  return decode_l4(p + ihl, l3_len - ihl, v);
}

DecodeError decode_ipv6(const uint8_t* p, uint32_t len, PacketView& v) noexcept {
  if (len < 40) return DecodeError::kTruncatedIpv6;
  v.ip_version = 6;
  v.tos = uint8_t((rd16(p) >> 4) & 0xFF);
  // Payload length plus the fixed header: up to 65,575, more than 16 bits
  // hold, so the arithmetic is done wide (a wrapped length once let a
  // hostile 0xFFFF payload length walk past the captured bytes).
  const uint32_t total = uint32_t(rd16(p + 4)) + 40;
  v.ip_total_len = uint16_t(std::min<uint32_t>(total, 0xFFFF));
  v.ttl = p[7];
  v.src = IpAddr::v6(p + 8);
  v.dst = IpAddr::v6(p + 24);
  const uint32_t l3_len = std::min(len, total);
  uint8_t next = p[6];
  uint32_t off = 40;
  // Walk the common extension headers; the chain length is bounded by the
  // packet, and a cap stops a crafted chain from costing more than it should.
  for (int hops = 0; hops < 8; ++hops) {
    if (next == 0 || next == 43 || next == 60) {  // hop-by-hop, routing, destination opts
      if (off + 8 > l3_len) return DecodeError::kBadIpv6ExtHeader;
      const uint32_t hlen = (uint32_t(p[off + 1]) + 1) * 8;
      if (off + hlen > l3_len) return DecodeError::kBadIpv6ExtHeader;
      next = p[off];
      off += hlen;
    } else if (next == 44) {  // fragment
      if (off + 8 > l3_len) return DecodeError::kBadIpv6ExtHeader;
      const uint16_t fo = rd16(p + off + 2);
      v.is_fragment = true;
      v.is_later_fragment = (fo & 0xFFF8) != 0;
      v.ip_id = uint16_t(rd32(p + off + 4) & 0xFFFF);
      next = p[off];
      off += 8;
    } else {
      break;
    }
  }
  v.ip_proto = next;
  if (v.is_later_fragment) {
    v.proto = l4_proto_of(v.ip_proto);
    v.payload = p + off;
    v.payload_len = uint16_t(l3_len - off);
    return DecodeError::kNone;
  }
  return decode_l4(p + off, l3_len - off, v);
}

}  // namespace

DecodeError decode_ip(const uint8_t* data, uint32_t len, PacketView& out) noexcept {
  out = PacketView{};
  out.wire_len = len;
  if (len < 1) return DecodeError::kTruncatedIpv4;
  const uint8_t version = data[0] >> 4;
  if (version == 4) {
    out.ether_type = kEtherIpv4;
    return decode_ipv4(data, len, out);
  }
  if (version == 6) {
    out.ether_type = kEtherIpv6;
    return decode_ipv6(data, len, out);
  }
  return DecodeError::kNotIp;
}

DecodeError decode(const uint8_t* data, uint32_t len, uint32_t wire_len, PacketView& out) noexcept {
  out = PacketView{};
  out.wire_len = wire_len;
  if (len < 14) return DecodeError::kTruncatedEthernet;
  uint32_t off = 12;
  uint16_t type = rd16(data + off);
  off += 2;
  while (type == kEtherVlan || type == kEtherQinQ || type == kEtherQinQOld) {
    if (off + 4 > len) return DecodeError::kTruncatedVlan;
    if (out.vlan_count < 2) out.vlan_ids[out.vlan_count] = rd16(data + off) & 0x0FFF;
    ++out.vlan_count;
    type = rd16(data + off + 2);
    off += 4;
    if (out.vlan_count > 4) return DecodeError::kTruncatedVlan;  // absurd stacking
  }
  out.ether_type = type;
  if (type == kEtherIpv4) return decode_ipv4(data + off, len - off, out);
  if (type == kEtherIpv6) return decode_ipv6(data + off, len - off, out);
  return DecodeError::kNotIp;
}

const char* decode_error_name(DecodeError e) {
  switch (e) {
    case DecodeError::kNone:
      return "ok";
    case DecodeError::kTruncatedEthernet:
      return "truncated_ethernet";
    case DecodeError::kTruncatedVlan:
      return "truncated_vlan";
    case DecodeError::kNotIp:
      return "not_ip";
    case DecodeError::kTruncatedIpv4:
      return "truncated_ipv4";
    case DecodeError::kBadIpv4Header:
      return "bad_ipv4_header";
    case DecodeError::kTruncatedIpv6:
      return "truncated_ipv6";
    case DecodeError::kBadIpv6ExtHeader:
      return "bad_ipv6_ext_header";
    case DecodeError::kTruncatedTcp:
      return "truncated_tcp";
    case DecodeError::kBadTcpHeader:
      return "bad_tcp_header";
    case DecodeError::kTruncatedUdp:
      return "truncated_udp";
    case DecodeError::kTruncatedIcmp:
      return "truncated_icmp";
    case DecodeError::kCount:
      break;
  }
  return "unknown";
}

}  // namespace harrier
