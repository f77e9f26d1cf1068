// Which packets a detector's on_packets wants, said once, and the tables
// that find a packet's detectors with a few lookups whatever their number.
//
// A detector declares a PacketInterest (Detector::packet_interest): the
// packet classes it reads, the facts it needs (home side, direction, first
// packet of the flow), the TCP flags that can matter to it and the ports it
// watches. Each runtime snapshot turns its detectors' interests into one
// PacketDispatch; a flow shard asks it once per packet and hands each
// detector only the packets it asked for. An interest may be wider than
// what the detector finally keeps (it still checks), never narrower: the
// tables are built from the interests by asking them, never by hand.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "dataplane/packet.h"

namespace harrier {

struct PacketCtx;

// What the transport layer of a packet is, as the flow stage saw it.
enum class PacketClass : uint8_t {
  kTcp,
  kUdp,
  kIcmp,       // ICMP or ICMPv6 that is not an error (echo, timestamp, ...)
  kIcmpError,  // an ICMP error quoting a packet (PacketView::quoted)
  kOtherIp,    // decoded IP of another protocol
  kUndecoded,  // not IP, or decode stopped on an error
  kCount,
};

namespace packet_fact {
inline constexpr uint8_t kSrcHome = 1;
inline constexpr uint8_t kDstHome = 2;
inline constexpr uint8_t kFromInitiator = 4;  // sent by the side that opened the flow
inline constexpr uint8_t kFlowCreated = 8;    // this packet opened (or restarted) its flow
inline constexpr uint8_t kAll = 15;
}  // namespace packet_fact

inline constexpr uint8_t class_bit(PacketClass c) {
  return uint8_t(1u << unsigned(c));
}

struct PacketInterest {
  uint8_t classes = 0;    // class_bit()s; none: on_packets is never called
  uint8_t all_facts = 0;  // packet_fact bits that must all hold
  uint8_t any_facts = 0;  // at least one of these must hold (none: no condition)
  uint8_t no_facts = 0;   // none of these may hold
  // TCP only: whether a packet with these flags (12 bits) can matter; asked
  // for every value once. Empty: every flag combination.
  std::function<bool(uint16_t flags)> tcp_flags;
  // TCP and UDP only: the source or the destination port is one of these.
  // Empty: every port. Other classes pass only when it is empty.
  std::vector<uint16_t> ports;

  static PacketInterest all() {
    PacketInterest p;
    p.classes = (1u << unsigned(PacketClass::kCount)) - 1;
    return p;
  }
  static PacketInterest none() { return {}; }
};

class PacketDispatch {
 public:
  static constexpr uint32_t kMaxDetectors = 32;

  // Main thread: detector `bit` (< kMaxDetectors) wants `in`. False, with
  // `error` set, when the bit is out of range.
  bool add(uint32_t bit, const PacketInterest& in, std::string* error);

  // Packet threads: the detectors (bits) that want this packet. Inline:
  // it runs once per packet, and its parts are a few loads each.
  uint32_t wants(const PacketCtx& c) const noexcept;

  // The class and facts of a flow-stage packet context.
  static PacketClass class_of(const PacketCtx& c) noexcept;
  static uint8_t facts_of(const PacketCtx& c) noexcept;

 private:
  uint32_t port_mask(uint16_t port) const noexcept;
  uint32_t listed_port_mask(uint16_t port) const noexcept;

  std::array<std::array<uint32_t, 16>, size_t(PacketClass::kCount)> by_class_facts_{};
  // By the low 8 flag bits: for packets without NS or a reserved bit, and
  // (rare) for those with any of them.
  std::array<uint32_t, 256> by_tcp_flags_{};
  std::array<uint32_t, 256> by_tcp_flags_high_{};
  uint32_t any_port_ = 0;  // detectors with no port list
  std::array<uint64_t, 65536 / 64> port_listed_{};
  std::vector<std::pair<uint16_t, uint32_t>> by_port_;  // sorted by port
};

}  // namespace harrier
