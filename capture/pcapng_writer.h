// Continuous recording to pcapng with DPDK's rte_pcapng: the emit stage hands
// each kept packet over (a copy into the writer's own mempool, with the
// packet's time in its Enhanced Packet Block), and a writer thread off the
// hot path writes them. Live, nothing blocks the packet path: when the pool
// or the queue is full, the packet is dropped and counted. Offline
// (`lossless`) the emit stage waits for the writer instead, as it waits for
// the alert output: a file read is recorded whole. finish() writes what is
// queued and closes the file, complete and valid.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

struct rte_mbuf;
struct rte_mempool;
struct rte_ring;
struct rte_pcapng;

namespace harrier {

struct PcapngCounters {
  uint64_t written = 0;       // packets in the file
  uint64_t bytes = 0;         // bytes written to the file
  uint64_t dropped_full = 0;  // the writer fell behind (pool or queue full)
  uint64_t write_errors = 0;  // write() failed (e.g. the disk is full)
};

class PcapngWriter {
 public:
  // Creates `path` (truncating) for Ethernet frames cut at `snaplen`. On
  // failure returns nullptr and an error naming the path and the reason.
  static std::unique_ptr<PcapngWriter> open(const std::string& path, uint32_t snaplen, int socket,
                                            bool lossless, std::string* error);
  ~PcapngWriter();
  PcapngWriter(const PcapngWriter&) = delete;
  PcapngWriter& operator=(const PcapngWriter&) = delete;

  // One thread (the emit stage): copies `m` for writing with time `ts_ns`.
  void submit(const rte_mbuf* m, uint64_t ts_ns) noexcept;
  // Writes everything queued and closes the file. Idempotent.
  void finish();

  // Totals; exact after finish().
  PcapngCounters counters() const;
  const std::string& path() const { return path_; }

 private:
  PcapngWriter() = default;
  void loop();
  uint32_t drain_once();

  std::string path_;
  uint32_t snaplen_ = 0;
  bool lossless_ = false;
  int fd_ = -1;
  rte_pcapng* pcapng_ = nullptr;
  rte_mempool* pool_ = nullptr;
  rte_ring* ring_ = nullptr;
  std::thread thread_;
  std::atomic<bool> done_{false};
  std::atomic<uint64_t> dropped_full_{0};
  uint64_t written_ = 0, bytes_ = 0, write_errors_ = 0;  // writer thread
  bool finished_ = false;
};

}  // namespace harrier
