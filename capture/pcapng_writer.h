// Continuous recording to pcapng with DPDK's rte_pcapng: the emit stage hands
// each kept packet over (a copy into the writer's own mempool, with the
// packet's time in its Enhanced Packet Block), and a writer thread off the
// hot path writes them. Live, nothing blocks the packet path: when the pool
// or the queue is full, the packet is dropped and counted. Offline
// (`lossless`) the emit stage waits for the writer instead, as it waits for
// the alert output: a file read is recorded whole. finish() writes what is
// queued and closes the file, complete and valid.
//
// Rotating (RotationPolicy), each file is a complete pcapng of its own, named
// by its first packet's time and a sequence number; the set stays within its
// retention budget, oldest deleted first. A write the disk refuses (full) is
// cut back to the last whole packet, so the file stays valid; rotating, the
// oldest file makes room and the write is tried once more.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "capture/capture_files.h"

struct rte_mbuf;
struct rte_mempool;
struct rte_ring;
struct rte_pcapng;

namespace harrier {

struct PcapngCounters {
  uint64_t written = 0;        // packets in the files
  uint64_t bytes = 0;          // bytes written to the files
  uint64_t dropped_full = 0;   // the writer fell behind (pool or queue full)
  uint64_t write_errors = 0;   // packets lost because the disk refused them (e.g. full)
  uint64_t files_created = 0;  // rotating: files opened by this run
  uint64_t files_deleted = 0;  // rotating: files the retention budget removed
  uint64_t files_kept = 0;     // rotating: files of the set on disk now
  uint64_t bytes_kept = 0;     // rotating: their bytes
};

class PcapngWriter {
 public:
  // Creates `path` (truncating) for Ethernet frames cut at `snaplen`, or,
  // rotating, the set of files named after it (opened as packets come). On
  // failure returns nullptr and an error naming the path and the reason.
  static std::unique_ptr<PcapngWriter> open(const std::string& path, const RotationPolicy& rotation,
                                            uint32_t snaplen, int socket, bool lossless,
                                            std::string* error);
  ~PcapngWriter();
  PcapngWriter(const PcapngWriter&) = delete;
  PcapngWriter& operator=(const PcapngWriter&) = delete;

  // One thread (the emit stage): copies `m` for writing with time `ts_ns`.
  void submit(const rte_mbuf* m, uint64_t ts_ns) noexcept;
  // Writes everything queued and closes the file. Idempotent.
  void finish();

  // Any thread: stop or resume recording (harrierctl capture stop|start);
  // paused, submit() keeps nothing. The open file stays complete.
  void set_paused(bool paused) { paused_.store(paused, std::memory_order_relaxed); }
  bool paused() const { return paused_.load(std::memory_order_relaxed); }

  // Totals, safe to read while the writer runs; exact after finish().
  PcapngCounters counters() const;
  const std::string& path() const { return path_; }
  bool rotating() const { return files_.policy().rotating(); }

 private:
  PcapngWriter() = default;
  void loop();
  uint32_t drain_once();
  bool open_file(uint64_t first_ts_ns);
  bool open_file_making_room(uint64_t first_ts_ns);
  void close_file();
  void write_run(rte_mbuf** pkts, uint32_t n, uint64_t bytes);
  void publish_file_counters();
  void report_error(int why, const std::string& what, const char* consequence);

  std::string path_;
  uint32_t snaplen_ = 0;
  bool lossless_ = false;
  int socket_ = 0;
  rte_mempool* pool_ = nullptr;
  rte_ring* ring_ = nullptr;
  std::thread thread_;
  std::atomic<bool> done_{false};
  std::atomic<bool> paused_{false};
  bool finished_ = false;

  // Writer thread only.
  CaptureFileSet files_;
  int fd_ = -1;
  rte_pcapng* pcapng_ = nullptr;
  uint64_t file_first_ts_ = 0;
  uint64_t file_packets_ = 0;
  int last_errno_ = 0;  // the last failure logged

  // Written by their one owner, read by anyone.
  std::atomic<uint64_t> dropped_full_{0};
  std::atomic<uint64_t> written_{0}, bytes_{0}, write_errors_{0};
  std::atomic<uint64_t> files_created_{0}, files_deleted_{0}, files_kept_{0}, bytes_kept_{0};
};

}  // namespace harrier
