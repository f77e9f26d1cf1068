#include "detectors/protocols/snmp.h"

#include <cstring>

namespace harrier::snmp {
namespace {

// Reads one BER tag and length at p[*off]; leaves *off at the value.
bool read_tl(const uint8_t* p, uint32_t len, uint32_t* off, uint8_t* tag, uint32_t* vlen) {
  if (*off + 2 > len) return false;
  *tag = p[(*off)++];
  uint32_t l = p[(*off)++];
  if (l & 0x80) {
    const uint32_t n = l & 0x7F;
    if (n == 0 || n > 4 || *off + n > len) return false;  // indefinite or absurd
    l = 0;
    for (uint32_t i = 0; i < n; ++i)
      l = l << 8 | p[(*off)++];
  }
  if (l > len - *off) return false;
  *vlen = l;
  return true;
}

}  // namespace

bool parse(const uint8_t* p, uint32_t len, Message& m) noexcept {
  if (p == nullptr) return false;
  m = Message{};
  uint32_t off = 0, vlen = 0;
  uint8_t tag = 0;
  if (!read_tl(p, len, &off, &tag, &vlen) || tag != 0x30) return false;  // SEQUENCE
  if (!read_tl(p, len, &off, &tag, &vlen) || tag != 0x02 || vlen == 0 || vlen > 4) return false;
  int32_t v = 0;
  for (uint32_t i = 0; i < vlen; ++i)
    v = int32_t(uint32_t(v) << 8 | p[off + i]);
  off += vlen;
  m.version = v;
  if (v == 3) return true;  // USM: no community
  if (v != 0 && v != 1) return false;
  if (!read_tl(p, len, &off, &tag, &vlen) || tag != 0x04) return false;  // OCTET STRING
  m.community_len = vlen;
  const uint32_t n = vlen < sizeof(m.community) - 1 ? vlen : uint32_t(sizeof(m.community) - 1);
  std::memcpy(m.community, p + off, n);
  off += vlen;
  if (off >= len) return false;
  m.pdu = p[off];
  return m.pdu >= 0xA0 && m.pdu <= 0xA8;
}

const char* pdu_name(uint8_t pdu) noexcept {
  static constexpr const char* kNames[] = {"GetRequest",    "GetNextRequest", "Response",
                                           "SetRequest",    "Trap",           "GetBulkRequest",
                                           "InformRequest", "SNMPv2-Trap",    "Report"};
  return pdu >= 0xA0 && pdu <= 0xA8 ? kNames[pdu - 0xA0] : "unknown";
}

}  // namespace harrier::snmp
