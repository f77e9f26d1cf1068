// NetBIOS name service (RFC 1002, UDP 137): just enough of the header and the
// first question to tell a name query from a node-status query and to read
// the queried name. Every length is checked against the payload.
#pragma once

#include <cstdint>

#include "detectors/packet_interest.h"

namespace harrier::nbns {

inline constexpr uint16_t kTypeNb = 0x0020;      // name query
inline constexpr uint16_t kTypeNbstat = 0x0021;  // node status (adapter status)

struct Message {
  uint16_t id = 0;
  bool response = false;
  uint8_t opcode = 0;  // 0 = query
  bool broadcast = false;
  uint16_t qdcount = 0, ancount = 0;
  uint16_t qtype = 0;     // of the first question (or answer, in a response)
  char name[16]{};        // decoded first-level name, trailing spaces kept, NUL-padded
  uint8_t suffix = 0;     // the 16th byte (service type)
  bool wildcard = false;  // the name is '*' padded with NULs: "CKAAAA..."
};

// Parses an NBNS message. Returns false when the payload is not one (too
// short, bad label, bad encoding).
bool parse(const uint8_t* p, uint32_t len, Message& m) noexcept;

enum class Direction : uint8_t { kNone, kQueryToHome, kAnswerFromHome };

// A UDP datagram's NBNS query to a home host or answer from one (opcode
// QUERY). Direction comes from the message's response bit, not the ports:
// Windows talks 137 <-> 137, so between two home hosts both port tests hold.
Direction classify(const uint8_t* payload, uint32_t len, uint16_t sport, uint16_t dport,
                   bool src_home, bool dst_home, Message& m) noexcept;

// The packets classify can accept: the packet interest of the detectors
// that read NBNS.
inline PacketInterest packet_interest() {
  PacketInterest in;
  in.classes = class_bit(PacketClass::kUdp);
  in.any_facts = packet_fact::kSrcHome | packet_fact::kDstHome;
  in.ports = {137};
  return in;
}

}  // namespace harrier::nbns
