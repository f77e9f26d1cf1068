// SNMP message header (RFC 1157 / 3416 / 3412), BER-decoded just far enough
// to read the version, the community string of v1/v2c and the PDU type.
// Hostile input: every length is checked, long forms are bounded, nothing is
// copied except the community (truncated to a fixed buffer).
#pragma once

#include <cstdint>

namespace harrier::snmp {

enum class Pdu : uint8_t {
  kGet = 0xA0,
  kGetNext = 0xA1,
  kResponse = 0xA2,
  kSet = 0xA3,
  kTrapV1 = 0xA4,
  kGetBulk = 0xA5,
  kInform = 0xA6,
  kTrapV2 = 0xA7,
  kReport = 0xA8,
};

struct Message {
  int32_t version = -1;        // 0 = v1, 1 = v2c, 3 = v3
  char community[32]{};        // NUL-terminated, truncated
  uint32_t community_len = 0;  // the real length
  uint8_t pdu = 0;             // one of Pdu (v1/v2c only)
};

// Parses an SNMP message. Returns false when the payload is not one.
bool parse(const uint8_t* p, uint32_t len, Message& m) noexcept;

const char* pdu_name(uint8_t pdu) noexcept;

}  // namespace harrier::snmp
