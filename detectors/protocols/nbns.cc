#include "detectors/protocols/nbns.h"

namespace harrier::nbns {

bool parse(const uint8_t* p, uint32_t len, Message& m) noexcept {
  if (p == nullptr || len < 12 + 1 + 32 + 1 + 4) return false;
  m = Message{};
  m.id = uint16_t(p[0] << 8 | p[1]);
  const uint16_t flags = uint16_t(p[2] << 8 | p[3]);
  m.response = flags & 0x8000;
  m.opcode = uint8_t((flags >> 11) & 0x0F);
  m.broadcast = flags & 0x0010;
  m.qdcount = uint16_t(p[4] << 8 | p[5]);
  m.ancount = uint16_t(p[6] << 8 | p[7]);
  // A query carries the name in its question; a response in its first answer.
  if (m.response ? m.ancount == 0 : m.qdcount == 0) return false;
  const uint8_t* q = p + 12;
  if (q[0] != 32) return false;  // first-level encoded NetBIOS name: always 32 bytes
  for (int i = 0; i < 16; ++i) {
    const uint8_t hi = q[1 + 2 * i], lo = q[2 + 2 * i];
    if (hi < 'A' || hi > 'P' || lo < 'A' || lo > 'P') return false;
    const uint8_t c = uint8_t((hi - 'A') << 4 | (lo - 'A'));
    if (i < 15)
      m.name[i] = char(c);
    else
      m.suffix = c;
  }
  // Scope labels may follow; skip them, bounded by the payload.
  uint32_t off = 12 + 33;
  while (off < len && p[off] != 0) {
    if (p[off] > 63) return false;  // no compression pointers in the first name
    off += 1u + p[off];
  }
  if (off + 1 + 4 > len) return false;
  ++off;
  m.qtype = uint16_t(p[off] << 8 | p[off + 1]);
  m.wildcard = m.name[0] == '*';
  for (int i = 1; i < 15 && m.wildcard; ++i)
    m.wildcard = m.name[i] == 0;
  return true;
}

Direction classify(const uint8_t* payload, uint32_t len, uint16_t sport, uint16_t dport,
                   bool src_home, bool dst_home, Message& m) noexcept {
  if (!(dport == 137 && dst_home) && !(sport == 137 && src_home)) return Direction::kNone;
  if (!parse(payload, len, m) || m.opcode != 0) return Direction::kNone;
  if (!m.response && dport == 137 && dst_home) return Direction::kQueryToHome;
  if (m.response && sport == 137 && src_home) return Direction::kAnswerFromHome;
  return Direction::kNone;
}

}  // namespace harrier::nbns
