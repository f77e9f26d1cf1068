#include "capture/pcapng_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <algorithm>
#include <cstring>

#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_pcapng.h>
#include <rte_ring.h>

namespace harrier {

namespace {
constexpr uint32_t kQueue = 8192;  // packets between the emit stage and the writer
constexpr uint32_t kBurst = 64;

// rte_pcapng_copy (DPDK 22.11) stamps a packet with the TSC it is given,
// converted against a clock base the library took privately at start-up, so
// it cannot express a time before the process started (a capture file's).
// The block it builds starts with the Enhanced Packet Block header (type,
// length, interface, timestamp high, timestamp low, ...), in the file's ns
// resolution: write the packet's own time there.
void stamp(rte_mbuf* copy, uint64_t ts_ns) {
  auto* epb = rte_pktmbuf_mtod(copy, uint32_t*);
  epb[3] = uint32_t(ts_ns >> 32);
  epb[4] = uint32_t(ts_ns);
}
}  // namespace

std::unique_ptr<PcapngWriter> PcapngWriter::open(const std::string& path, uint32_t snaplen,
                                                 int socket, bool lossless, std::string* error) {
  std::unique_ptr<PcapngWriter> w(new PcapngWriter());
  w->path_ = path;
  w->snaplen_ = snaplen;
  w->lossless_ = lossless;
  w->fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (w->fd_ < 0) {
    *error = path + ": cannot create the capture file: " + std::strerror(errno);
    return nullptr;
  }
  w->pcapng_ = rte_pcapng_fdopen(w->fd_, nullptr, nullptr, "harrier " HARRIER_VERSION, nullptr);
  if (!w->pcapng_) {
    *error = path + ": cannot start a pcapng file: " + rte_strerror(rte_errno);
    return nullptr;
  }
  const std::string tag = std::to_string(reinterpret_cast<uintptr_t>(w.get()) & 0xFFFFFF);
  // Room for a full-size Ethernet frame plus the block around it in one
  // segment; jumbo frames chain segments (rte_pcapng writes them whole).
  const uint32_t room =
      std::min<uint32_t>(rte_pcapng_mbuf_size(std::min<uint32_t>(snaplen, 1518)), UINT16_MAX);
  w->pool_ = rte_pktmbuf_pool_create(("pcapng" + tag).c_str(), kQueue + 2 * kBurst, 0, 0,
                                     uint16_t(room), socket);
  w->ring_ =
      rte_ring_create(("pcapngq" + tag).c_str(), kQueue, socket, RING_F_SP_ENQ | RING_F_SC_DEQ);
  if (!w->pool_ || !w->ring_) {
    *error = path + ": cannot allocate the capture queue: " + rte_strerror(rte_errno);
    return nullptr;
  }
  w->thread_ = std::thread([p = w.get()] { p->loop(); });
  return w;
}

PcapngWriter::~PcapngWriter() {
  finish();
  if (fd_ >= 0) ::close(fd_);  // rte_pcapng_fdopen failed: nobody else owns it
  if (ring_) rte_ring_free(ring_);
  if (pool_) rte_mempool_free(pool_);
}

void PcapngWriter::submit(const rte_mbuf* m, uint64_t ts_ns) noexcept {
  rte_mbuf* copy;
  while (!(copy = rte_pcapng_copy(m->port, 0, m, pool_, snaplen_, 0, RTE_PCAPNG_DIRECTION_IN))) {
    if (!lossless_ || done_.load(std::memory_order_relaxed)) {
      dropped_full_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    std::this_thread::yield();  // offline: the writer frees copies as it writes
  }
  stamp(copy, ts_ns);
  while (rte_ring_sp_enqueue(ring_, copy) != 0) {
    if (!lossless_ || done_.load(std::memory_order_relaxed)) {
      rte_pktmbuf_free(copy);
      dropped_full_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    std::this_thread::yield();
  }
}

uint32_t PcapngWriter::drain_once() {
  rte_mbuf* pkts[kBurst];
  const uint32_t n =
      rte_ring_sc_dequeue_burst(ring_, reinterpret_cast<void**>(pkts), kBurst, nullptr);
  if (n == 0) return 0;
  const ssize_t wrote = rte_pcapng_write_packets(pcapng_, pkts, uint16_t(n));
  // DPDK 22.11 leaves the copies to the caller (its header says otherwise;
  // a pool's worth of packets, then nothing, showed which is true).
  rte_pktmbuf_free_bulk(pkts, n);
  if (wrote < 0) {
    write_errors_ += n;
  } else {
    written_ += n;
    bytes_ += uint64_t(wrote);
  }
  return n;
}

void PcapngWriter::loop() {
  while (!done_.load(std::memory_order_acquire))
    if (drain_once() == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
  while (drain_once()) {
  }
}

void PcapngWriter::finish() {
  if (finished_) return;
  finished_ = true;
  done_.store(true, std::memory_order_release);
  if (thread_.joinable()) thread_.join();
  if (pcapng_) {
    rte_pcapng_close(pcapng_);  // closes fd_ too
    pcapng_ = nullptr;
    fd_ = -1;
  }
}

PcapngCounters PcapngWriter::counters() const {
  PcapngCounters c;
  c.written = written_;
  c.bytes = bytes_;
  c.dropped_full = dropped_full_.load(std::memory_order_relaxed);
  c.write_errors = write_errors_;
  return c;
}

}  // namespace harrier
