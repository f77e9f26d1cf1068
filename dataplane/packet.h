// Decoded, non-owning view of one packet. Filled by decode(); every pointer
// points into the packet's first mbuf segment and every length was checked
// against it, so consumers never read out of bounds.
#pragma once

#include <cstdint>
#include <cstring>

namespace harrier {

// An IPv4 or IPv6 address in network byte order. IPv4 lives in the first four
// bytes so that one type serves flow keys of both families.
struct IpAddr {
  uint8_t bytes[16]{};
  uint8_t family = 0;  // 4 or 6; 0 means unset

  static IpAddr v4(uint32_t be_addr) {
    IpAddr a;
    std::memcpy(a.bytes, &be_addr, 4);
    a.family = 4;
    return a;
  }
  static IpAddr v6(const uint8_t* be16) {
    IpAddr a;
    std::memcpy(a.bytes, be16, 16);
    a.family = 6;
    return a;
  }
  uint32_t v4_be() const {
    uint32_t v;
    std::memcpy(&v, bytes, 4);
    return v;
  }
  uint32_t v4_host() const { return __builtin_bswap32(v4_be()); }
  friend bool operator==(const IpAddr& a, const IpAddr& b) {
    return a.family == b.family && std::memcmp(a.bytes, b.bytes, 16) == 0;
  }
  friend bool operator<(const IpAddr& a, const IpAddr& b) {
    if (a.family != b.family) return a.family < b.family;
    return std::memcmp(a.bytes, b.bytes, 16) < 0;
  }
};

enum class L4Proto : uint8_t { kOther = 0, kIcmp = 1, kTcp = 6, kUdp = 17, kIcmp6 = 58 };

// TCP flag bits as they sit in byte 13, plus the three reserved bits of
// byte 12 shifted above them so one 16-bit field holds every header bit.
namespace tcp_flag {
inline constexpr uint16_t kFin = 0x01;
inline constexpr uint16_t kSyn = 0x02;
inline constexpr uint16_t kRst = 0x04;
inline constexpr uint16_t kPsh = 0x08;
inline constexpr uint16_t kAck = 0x10;
inline constexpr uint16_t kUrg = 0x20;
inline constexpr uint16_t kEce = 0x40;
inline constexpr uint16_t kCwr = 0x80;
inline constexpr uint16_t kNs = 0x100;        // RFC 3540 nonce sum, historic
inline constexpr uint16_t kReserved = 0xE00;  // the three bits that are truly reserved
}  // namespace tcp_flag

// TCP options as parsed: which were present, their values, and their order
// (fingerprinting cares about order: nmap's "wscale 10, nop, mss 265, ts, eol").
struct TcpOptions {
  static constexpr int kMaxKinds = 12;
  uint8_t kinds[kMaxKinds]{};  // option kinds in order of appearance
  uint8_t count = 0;           // entries in kinds (capped at kMaxKinds)
  bool malformed = false;      // a length ran past the header or was < 2
  bool has_mss = false, has_wscale = false, has_sack_ok = false, has_timestamp = false;
  uint16_t mss = 0;
  uint8_t wscale = 0;
  uint32_t ts_val = 0, ts_ecr = 0;
};

// The header of a packet quoted inside an ICMP error (RFC 792 / 4443: the IP
// header plus at least 8 bytes of its payload).
struct QuotedPacket {
  bool present = false;
  IpAddr src, dst;
  L4Proto proto = L4Proto::kOther;
  uint8_t ip_proto = 0;
  uint8_t ttl = 0;
  uint16_t sport = 0, dport = 0;  // only when the quote reaches them
  bool has_ports = false;
  uint32_t tcp_seq = 0;
  bool has_seq = false;
  uint16_t icmp_id = 0;  // a quoted ICMP echo or timestamp request/reply
  bool has_icmp_id = false;
};

struct PacketView {
  // Link layer
  uint16_t vlan_count = 0;
  uint16_t vlan_ids[2]{};
  uint16_t ether_type = 0;

  // Network layer
  uint8_t ip_version = 0;  // 0 when not IP
  IpAddr src, dst;
  uint8_t ip_proto = 0;  // IPv4 protocol / IPv6 final next header
  uint8_t ttl = 0;       // IPv4 TTL or IPv6 hop limit
  uint8_t tos = 0;
  uint16_t ip_id = 0;
  bool dont_fragment = false;
  bool is_fragment = false;        // any fragment
  bool is_later_fragment = false;  // offset != 0: carries no L4 header
  uint16_t ip_options_len = 0;
  uint16_t ip_total_len = 0;

  // Transport layer
  L4Proto proto = L4Proto::kOther;
  uint16_t sport = 0, dport = 0;
  uint16_t tcp_flags = 0;  // tcp_flag bits
  uint32_t tcp_seq = 0, tcp_ack = 0;
  uint16_t tcp_window = 0;
  uint16_t tcp_urgent = 0;
  TcpOptions tcp_opts;
  uint8_t icmp_type = 0, icmp_code = 0;
  uint16_t icmp_id = 0, icmp_seq = 0;
  QuotedPacket quoted;  // ICMP errors only

  // Start of the transport header (first fragments and whole packets), and
  // the L4 payload, within the first segment.
  const uint8_t* l4 = nullptr;
  const uint8_t* payload = nullptr;
  uint16_t payload_len = 0;
  uint32_t wire_len = 0;  // whole frame length as received

  bool has_ports() const {
    return (proto == L4Proto::kTcp || proto == L4Proto::kUdp) && !is_later_fragment;
  }
  bool is_icmp_error() const { return quoted.present; }
};

// Why a packet could not be decoded fully. Each reason is a counter; a packet
// that fails stays in the batch (capture still wants it) but reaches only the
// detectors that can use what was decoded.
enum class DecodeError : uint8_t {
  kNone = 0,
  kTruncatedEthernet,
  kTruncatedVlan,
  kNotIp,
  kTruncatedIpv4,
  kBadIpv4Header,
  kTruncatedIpv6,
  kBadIpv6ExtHeader,
  kTruncatedTcp,
  kBadTcpHeader,
  kTruncatedUdp,
  kTruncatedIcmp,
  kCount
};

const char* decode_error_name(DecodeError e);

}  // namespace harrier
