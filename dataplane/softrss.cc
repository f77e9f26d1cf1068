#include "dataplane/softrss.h"

#include <rte_thash.h>

namespace harrier {

const uint8_t kSymmetricRssKey[kRssKeyLen] = {
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a};

namespace {
// rte_softrss_be wants the key byte-swapped per 32-bit word, once.
struct BeKey {
  uint8_t k[kRssKeyLen];
  BeKey() {
    rte_convert_rss_key(reinterpret_cast<const uint32_t*>(kSymmetricRssKey),
                        reinterpret_cast<uint32_t*>(k), kRssKeyLen);
  }
};
const BeKey kBeKey;

inline uint32_t be_word(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}
}  // namespace

uint32_t symmetric_hash(const IpAddr& src, const IpAddr& dst, uint16_t sport,
                        uint16_t dport) noexcept {
  uint32_t tuple[9];
  uint32_t n;
  if (src.family == 6) {
    for (int i = 0; i < 4; ++i)
      tuple[i] = be_word(src.bytes + 4 * i);
    for (int i = 0; i < 4; ++i)
      tuple[4 + i] = be_word(dst.bytes + 4 * i);
    tuple[8] = uint32_t(sport) << 16 | dport;
    n = 9;
  } else {
    tuple[0] = be_word(src.bytes);
    tuple[1] = be_word(dst.bytes);
    tuple[2] = uint32_t(sport) << 16 | dport;
    n = 3;
  }
  return rte_softrss_be(tuple, n, kBeKey.k);
}

uint32_t packet_flow_hash(const PacketView& v) noexcept {
  if (v.quoted.present) {
    const QuotedPacket& q = v.quoted;
    return symmetric_hash(q.src, q.dst, q.has_ports ? q.sport : 0, q.has_ports ? q.dport : 0);
  }
  if (v.has_ports()) return symmetric_hash(v.src, v.dst, v.sport, v.dport);
  return symmetric_hash(v.src, v.dst, 0, 0);
}

}  // namespace harrier
