// What both pcapng writers (the recording and the incident captures) share:
// creating a file, the packet time in the blocks rte_pcapng_copy builds, and
// the writer thread's loop.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

#include <rte_mbuf.h>

struct rte_pcapng;

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

// Creates `path` (truncating) and writes the section header and one
// interface block per port. On failure returns nullptr with errno saying
// why, and removes a regular file it left with half a header.
rte_pcapng* create_pcapng(const std::string& path, int* fd);

// Appends `n` packet blocks (`bytes` in all) to `fd`, whose whole blocks end
// at offset `good`. Returns 0, or the errno of a write the disk refused (a
// short write is ENOSPC when the file system is full, else EIO); the file
// is then cut back to `good`, still valid, unless *cut_failed says it could
// not be.
int append_blocks(rte_pcapng* p, int fd, rte_mbuf** pkts, uint16_t n, uint64_t bytes, uint64_t good,
                  bool* cut_failed);

// A writer thread's body: `drain()` (returns how much it wrote) until `done`,
// resting `idle` when there was nothing, then whatever is left.
template <typename Drain>
void drain_until_done(const std::atomic<bool>& done, std::chrono::microseconds idle, Drain drain) {
  while (!done.load(std::memory_order_acquire))
    if (drain() == 0) std::this_thread::sleep_for(idle);
  while (drain()) {
  }
}

}  // namespace harrier
