// The Enhanced Packet Block rte_pcapng_copy builds in an mbuf, and the
// packet time harrier writes into it.
#pragma once

#include <cstdint>

#include <rte_mbuf.h>

namespace harrier {

// rte_pcapng_copy (DPDK 22.11) stamps a packet with the TSC it is given,
// converted against a clock base the library took privately at start-up, so
// it cannot express a time before the process started (a capture file's).
// The block it builds starts with the Enhanced Packet Block header (type,
// length, interface, timestamp high, timestamp low, ...), in the file's ns
// resolution: write the packet's own time there.
inline void stamp(rte_mbuf* copy, uint64_t ts_ns) {
  auto* epb = rte_pktmbuf_mtod(copy, uint32_t*);
  epb[3] = uint32_t(ts_ns >> 32);
  epb[4] = uint32_t(ts_ns);
}
inline uint64_t packet_time(const rte_mbuf* copy) {
  const auto* epb = rte_pktmbuf_mtod(copy, const uint32_t*);
  return uint64_t(epb[3]) << 32 | epb[4];
}

}  // namespace harrier
