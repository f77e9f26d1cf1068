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

uint32_t symmetric_hash_reference(const IpAddr& src, const IpAddr& dst, uint16_t sport,
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

namespace {
// Toeplitz by bytes: for tuple byte p and value v, the XOR of the 32-bit key
// windows its set bits select. A hash is then one load and XOR per tuple
// byte (12 for IPv4 with ports, 36 for IPv6) instead of rte_softrss's loop
// over every bit (96 and 288 iterations, ~560 instructions per IPv4 packet).
constexpr int kMaxTupleBytes = 36;
struct ByteTable {
  uint32_t t[kMaxTupleBytes][256];
  ByteTable() {
    auto window = [](int bit) {  // key bits [bit, bit + 32), big-endian
      uint64_t w = 0;
      for (int i = 0; i < 8; ++i) {
        const int byte = bit / 8 + i;
        w = w << 8 | (byte < kRssKeyLen ? kSymmetricRssKey[byte] : 0);
      }
      return uint32_t(w >> (32 - bit % 8));
    };
    for (int p = 0; p < kMaxTupleBytes; ++p)
      for (int v = 0; v < 256; ++v) {
        uint32_t h = 0;
        for (int b = 0; b < 8; ++b)
          if (v & (0x80 >> b)) h ^= window(8 * p + b);
        t[p][v] = h;
      }
  }
};
const ByteTable kTable;
}  // namespace

uint32_t symmetric_hash(const IpAddr& src, const IpAddr& dst, uint16_t sport,
                        uint16_t dport) noexcept {
  const int len = src.family == 6 ? 16 : 4;
  uint32_t h = 0;
  int p = 0;
  for (int i = 0; i < len; ++i)
    h ^= kTable.t[p++][src.bytes[i]];
  for (int i = 0; i < len; ++i)
    h ^= kTable.t[p++][dst.bytes[i]];
  h ^= kTable.t[p][sport >> 8] ^ kTable.t[p + 1][sport & 0xFF];
  h ^= kTable.t[p + 2][dport >> 8] ^ kTable.t[p + 3][dport & 0xFF];
  return h;
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
