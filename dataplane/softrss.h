// Symmetric Toeplitz hashing: the software twin of NIC RSS. With the key
// 0x6d5a repeated, swapping (src, dst) and (sport, dport) leaves the hash
// unchanged (Woo & Park, "Scalable TCP Session Monitoring with Symmetric RSS"),
// so both directions of a connection land on the same worker. A NIC programmed
// with the same key gives the same hash, so hardware and software spread agree.
#pragma once

#include <cstdint>

#include "dataplane/packet.h"

namespace harrier {

inline constexpr int kRssKeyLen = 40;
// The key programmed into NICs (rte_eth_rss_conf.rss_key).
extern const uint8_t kSymmetricRssKey[kRssKeyLen];

// Hash of the (src, dst, sport, dport) tuple in the layout rte_softrss uses
// for IPv4/IPv6 with L4 ports. Ports are ignored when zero on both sides.
// A byte-table Toeplitz, equal to rte_softrss's bit loop.
uint32_t symmetric_hash(const IpAddr& src, const IpAddr& dst, uint16_t sport,
                        uint16_t dport) noexcept;
// rte_softrss_be itself: what NICs compute, and what the table must equal.
uint32_t symmetric_hash_reference(const IpAddr& src, const IpAddr& dst, uint16_t sport,
                                  uint16_t dport) noexcept;

// The flow hash of a decoded packet. ICMP errors hash their *quoted* tuple:
// the error belongs to the flow it quotes, which lives on that flow's worker.
uint32_t packet_flow_hash(const PacketView& v) noexcept;

// Maps a 32-bit hash onto [0, n) without a division (Lemire's reduction).
inline uint32_t hash_to_shard(uint32_t hash, uint32_t n) {
  return uint32_t((uint64_t(hash) * n) >> 32);
}

}  // namespace harrier
