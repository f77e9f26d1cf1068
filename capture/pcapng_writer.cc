#include "capture/pcapng_writer.h"

#include "capture/pcapng_file.h"

#include <fcntl.h>
#include <sys/stat.h>
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
#include <spdlog/spdlog.h>

namespace harrier {

namespace {
constexpr uint32_t kQueue = 8192;  // packets between the emit stage and the writer
constexpr uint32_t kBurst = 64;

}  // namespace

std::unique_ptr<PcapngWriter> PcapngWriter::open(const std::string& path,
                                                 const RotationPolicy& rotation, uint32_t snaplen,
                                                 int socket, bool lossless, std::string* error) {
  std::unique_ptr<PcapngWriter> w(new PcapngWriter());
  w->path_ = path;
  w->snaplen_ = snaplen;
  w->lossless_ = lossless;
  w->socket_ = socket;
  if (!w->files_.init(path, rotation, error)) return nullptr;
  // A single file is created now, so a path that cannot be written is
  // refused before anything runs; a rotating set checked its directory.
  if (!rotation.rotating() && !w->open_file(0)) {
    *error = path + ": cannot create the capture file: " + std::strerror(errno);
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
  if (ring_) rte_ring_free(ring_);
  if (pool_) rte_mempool_free(pool_);
}

void PcapngWriter::submit(const rte_mbuf* m, uint64_t ts_ns) noexcept {
  if (paused_.load(std::memory_order_relaxed)) return;
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

// Opens the next file of the set; errno says why when it fails.
bool PcapngWriter::open_file(uint64_t first_ts_ns) {
  const std::string name = files_.next_name(first_ts_ns);
  pcapng_ = create_pcapng(name, &fd_);
  if (!pcapng_) return false;
  const off_t header = ::lseek(fd_, 0, SEEK_CUR);
  files_.opened(name, header > 0 ? uint64_t(header) : 0);
  file_first_ts_ = first_ts_ns;
  file_packets_ = 0;
  publish_file_counters();
  return true;
}

// Rotating onto a full disk, the oldest files make room for the next one.
bool PcapngWriter::open_file_making_room(uint64_t first_ts_ns) {
  while (!open_file(first_ts_ns)) {
    if (!(errno == ENOSPC || errno == EDQUOT) || !files_.delete_oldest()) return false;
    publish_file_counters();
  }
  return true;
}

void PcapngWriter::close_file() {
  if (!pcapng_) return;
  rte_pcapng_close(pcapng_);  // closes fd_ too
  pcapng_ = nullptr;
  fd_ = -1;
  files_.closed();
}

void PcapngWriter::publish_file_counters() {
  files_created_.store(files_.files_created(), std::memory_order_relaxed);
  files_deleted_.store(files_.files_deleted(), std::memory_order_relaxed);
  files_kept_.store(files_.kept_files(), std::memory_order_relaxed);
  bytes_kept_.store(files_.kept_bytes(), std::memory_order_relaxed);
}

// Writes `n` packet blocks (`bytes` in all) to the open file. What the disk
// refuses is cut off again at the last whole block, so the file stays valid.
void PcapngWriter::write_run(rte_mbuf** pkts, uint32_t n, uint64_t bytes) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    files_.enforce(bytes);
    bool cut_failed = false;
    const int why =
        append_blocks(pcapng_, fd_, pkts, uint16_t(n), bytes, files_.current_bytes(), &cut_failed);
    if (why == 0) {
      written_.fetch_add(n, std::memory_order_relaxed);
      bytes_.fetch_add(bytes, std::memory_order_relaxed);
      files_.written(bytes);
      file_packets_ += n;
      publish_file_counters();
      return;
    }
    report_error(why, "cannot write packets to " + files_.current_name(),
                 files_.policy().rotating() && (why == ENOSPC || why == EDQUOT)
                     ? "deleting the oldest capture files to make room"
                     : "counting what is lost");
    if (cut_failed) {
      // The file cannot even be cut back: close it where it is and start
      // the next one on the next packet.
      close_file();
      break;
    }
    // Full disk, rotating: the oldest file makes room, once per write.
    if (!(why == ENOSPC || why == EDQUOT) || !files_.delete_oldest()) break;
  }
  write_errors_.fetch_add(n, std::memory_order_relaxed);
  publish_file_counters();
}

// Each kind of failure is logged when it first happens, not per packet.
void PcapngWriter::report_error(int why, const std::string& what, const char* consequence) {
  if (why == last_errno_) return;
  last_errno_ = why;
  spdlog::error("{}: {}; {}", what, std::strerror(why), consequence);
}

uint32_t PcapngWriter::drain_once() {
  rte_mbuf* pkts[kBurst];
  const uint32_t n =
      rte_ring_sc_dequeue_burst(ring_, reinterpret_cast<void**>(pkts), kBurst, nullptr);
  if (n == 0) return 0;
  const RotationPolicy& rot = files_.policy();
  uint32_t i = 0;
  while (i < n) {
    if (!pcapng_ && !open_file_making_room(packet_time(pkts[i]))) {
      report_error(errno, "cannot create " + files_.next_name(packet_time(pkts[i])),
                   "counting what is lost");
      write_errors_.fetch_add(n - i, std::memory_order_relaxed);
      break;
    }
    // The run of packets that still belongs in this file.
    uint32_t j = i;
    uint64_t bytes = 0;
    for (; j < n; ++j) {
      const uint64_t len = pkts[j]->pkt_len;
      const bool file_has_packets = file_packets_ > 0 || j > i;
      if (file_has_packets && rot.rotating() &&
          ((rot.file_bytes && files_.current_bytes() + bytes + len > rot.file_bytes) ||
           (rot.file_seconds &&
            packet_time(pkts[j]) >= file_first_ts_ + rot.file_seconds * 1'000'000'000ull)))
        break;
      bytes += len;
    }
    if (j > i) write_run(pkts + i, j - i, bytes);
    if (j < n) close_file();  // rotate: the next packet starts the next file
    i = j;
  }
  // DPDK 22.11 leaves the copies to the caller (its header says otherwise;
  // a pool's worth of packets, then nothing, showed which is true).
  rte_pktmbuf_free_bulk(pkts, n);
  return n;
}

void PcapngWriter::loop() {
  drain_until_done(done_, std::chrono::microseconds(200), [this] { return drain_once(); });
}

void PcapngWriter::finish() {
  if (finished_) return;
  finished_ = true;
  done_.store(true, std::memory_order_release);
  if (thread_.joinable()) thread_.join();
  close_file();
  publish_file_counters();
}

PcapngCounters PcapngWriter::counters() const {
  PcapngCounters c;
  c.written = written_.load(std::memory_order_relaxed);
  c.bytes = bytes_.load(std::memory_order_relaxed);
  c.dropped_full = dropped_full_.load(std::memory_order_relaxed);
  c.write_errors = write_errors_.load(std::memory_order_relaxed);
  c.files_created = files_created_.load(std::memory_order_relaxed);
  c.files_deleted = files_deleted_.load(std::memory_order_relaxed);
  c.files_kept = files_kept_.load(std::memory_order_relaxed);
  c.bytes_kept = bytes_kept_.load(std::memory_order_relaxed);
  return c;
}

}  // namespace harrier
