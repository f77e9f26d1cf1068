#include "capture/incident_recorder.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>

#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_pcapng.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <spdlog/spdlog.h>

#include "capture/pcapng_file.h"

namespace harrier {

namespace {
constexpr uint32_t kQueue = 16384;  // messages between the shards and the writer
constexpr uint32_t kBurst = 64;

bool involves(const IpAddr& subject, const IpAddr& src, const IpAddr& dst) {
  return subject == src || subject == dst;
}

// Each segment of a copy is shared with the writer: rte_pktmbuf_free
// releases segment by segment.
void share(rte_mbuf* m) {
  for (rte_mbuf* seg = m; seg; seg = seg->next)
    rte_mbuf_refcnt_update(seg, 1);
}

std::string file_name(const std::string& dir, const IncidentRef& r, uint32_t id) {
  const time_t secs = time_t(r.alert_ts / 1'000'000'000ull);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char when[32];
  std::strftime(when, sizeof when, "%Y%m%dT%H%M%SZ", &tm);
  char addr[INET6_ADDRSTRLEN] = "?";
  inet_ntop(r.subject.family == 6 ? AF_INET6 : AF_INET, r.subject.bytes, addr, sizeof addr);
  std::string a = addr;
  std::replace(a.begin(), a.end(), ':', '_');  // IPv6: keep names shell- and Windows-friendly
  return dir + "/" + when + "-" + std::string(r.detector_id) + "-" + a + "-" + std::to_string(id) +
         ".pcapng";
}
}  // namespace

std::unique_ptr<IncidentRecorder> IncidentRecorder::create(const IncidentCaptureConfig& cfg,
                                                           uint32_t n_shards, int socket,
                                                           bool lossless, std::string* error) {
  std::unique_ptr<IncidentRecorder> r(new IncidentRecorder());
  r->cfg_ = cfg;
  r->n_shards_ = n_shards;
  r->lossless_ = lossless;
  if (access(cfg.dir.c_str(), W_OK | X_OK) != 0) {
    *error = cfg.dir + ": cannot write incident captures there: " + std::strerror(errno);
    return nullptr;
  }
  static std::atomic<int> instance{0};
  const std::string tag = std::to_string(instance++);
  const uint16_t room = uint16_t(
      std::min<uint32_t>(rte_pcapng_mbuf_size(std::min<uint32_t>(cfg.snaplen, 1518)), UINT16_MAX));
  for (uint32_t i = 0; i < n_shards; ++i) {
    auto s = std::make_unique<Shard>();
    // The ring's packets, and the queue's worth more on their way to the
    // writer (one shard may fill it). No per-lcore cache: it would strand
    // copies on lcores that never return them to this shard.
    s->pool = rte_pktmbuf_pool_create(("incring" + tag + "_" + std::to_string(i)).c_str(),
                                      cfg.ring_packets + kQueue + 2 * kBurst, 0, 0, room, socket);
    if (!s->pool) {
      *error = "cannot allocate " + std::to_string(cfg.ring_packets) +
               " incident ring packets per worker: " + rte_strerror(rte_errno) +
               " (lower capture.incidents.ring_packets)";
      return nullptr;
    }
    s->ring.resize(cfg.ring_packets);
    s->watching.reserve(kSlots);
    r->shards_.push_back(std::move(s));
  }
  r->queue_ =
      rte_ring_create_elem(("incq" + tag).c_str(), sizeof(Msg), kQueue, socket, RING_F_SC_DEQ);
  if (!r->queue_) {
    *error = std::string("cannot allocate the incident capture queue: ") + rte_strerror(rte_errno);
    return nullptr;
  }
  r->writer_ = std::thread([p = r.get()] { p->writer_loop(); });
  return r;
}

IncidentRecorder::~IncidentRecorder() {
  finish();
  for (auto& s : shards_) {
    for (Entry& e : s->ring)
      if (e.copy) rte_pktmbuf_free(e.copy);
    if (s->pool) rte_mempool_free(s->pool);
  }
  if (queue_) rte_ring_free(queue_);
}

// ---- emit thread -----------------------------------------------------------

uint32_t IncidentRecorder::on_alert(const IncidentRef& ref) {
  const auto key = std::make_tuple(ref.detector, ref.first_ts, ref.subject, ref.peer);
  if (!ref.first_alert) {
    const auto it = by_incident_.find(key);
    return it == by_incident_.end() ? 0 : it->second;
  }
  if (files_started_ >= cfg_.max_files) {
    skipped_files_cap_.fetch_add(1, std::memory_order_relaxed);
    return 0;
  }
  uint32_t slot = kSlots;
  for (uint32_t i = 0; i < kSlots && slot == kSlots; ++i)
    if (requests_[i].id.load(std::memory_order_acquire) == 0) slot = i;
  if (slot == kSlots) {
    skipped_busy_.fetch_add(1, std::memory_order_relaxed);
    return 0;
  }
  const uint32_t id = next_id_++;
  ++files_started_;
  Request& r = requests_[slot];
  r.subject = ref.subject;
  const uint64_t before = uint64_t(cfg_.before_s) * 1'000'000'000ull;
  const uint64_t start = std::min(ref.first_ts, ref.alert_ts);
  r.from = start > before ? start - before : 0;
  r.until = ref.alert_ts + uint64_t(cfg_.after_s) * 1'000'000'000ull;
  r.shards_done.store(0, std::memory_order_relaxed);
  slot_path_[slot] = file_name(cfg_.dir, ref, id);
  {
    std::lock_guard<std::mutex> lock(paths_mu_);
    paths_[id] = slot_path_[slot];
  }
  // An incident's updates name the same file; the map is bounded by max_files.
  by_incident_[key] = id;
  r.id.store(id, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_release);
  return id;
}

std::string IncidentRecorder::file_for(uint32_t id) const {
  std::lock_guard<std::mutex> lock(paths_mu_);
  const auto it = paths_.find(id);
  return it == paths_.end() ? std::string() : it->second;
}

// ---- flow shard threads ----------------------------------------------------

void IncidentRecorder::send(Shard& s, uint32_t slot, rte_mbuf* copy) noexcept {
  // Live, the last kSlots places in the queue are kept for closes (at most
  // one per slot is ever pending), so a close always fits and a stalled
  // disk can never hold a worker.
  if (!lossless_ && rte_ring_free_count(queue_) <= kSlots) {
    s.dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  share(copy);
  Msg m{slot, 0, copy};
  while (rte_ring_mp_enqueue_elem(queue_, &m, sizeof(Msg)) != 0) {
    if (!lossless_) {
      rte_pktmbuf_free(copy);
      s.dropped.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    std::this_thread::yield();
  }
}

void IncidentRecorder::send_close(uint32_t slot) noexcept {
  // Never dropped, and never waits long: live, packets leave room for it.
  Msg m{slot, 1, nullptr};
  while (rte_ring_mp_enqueue_elem(queue_, &m, sizeof(Msg)) != 0)
    std::this_thread::yield();
}

// A copy of `m` from the shard's pool. When the pool is short, the ring's
// oldest copy makes room; offline, when the writer still holds copies, wait
// for it to let them go rather than miss the packet.
rte_mbuf* IncidentRecorder::copy_packet(Shard& s, Entry& oldest, const rte_mbuf* m) noexcept {
  for (;;) {
    rte_mbuf* copy =
        rte_pcapng_copy(m->port, 0, m, s.pool, cfg_.snaplen, 0, RTE_PCAPNG_DIRECTION_IN);
    if (copy) return copy;
    if (oldest.copy) {
      rte_pktmbuf_free(oldest.copy);
      oldest.copy = nullptr;
    } else if (lossless_ && !rte_ring_empty(queue_)) {
      std::this_thread::yield();
    } else {
      return nullptr;
    }
  }
}

void IncidentRecorder::follow_new_requests(Shard& s) noexcept {
  const uint64_t gen = generation_.load(std::memory_order_acquire);
  if (gen == s.seen_generation) return;
  s.seen_generation = gen;
  for (uint32_t slot = 0; slot < kSlots; ++slot) {
    const uint32_t id = requests_[slot].id.load(std::memory_order_acquire);
    if (id == 0 || id == s.seen[slot]) continue;
    s.seen[slot] = id;
    const Request& r = requests_[slot];
    s.watching.push_back({slot, id, r.subject, r.from, r.until});
    // The look-back: what the ring still holds, oldest first.
    const uint32_t n = uint32_t(s.ring.size());
    for (uint32_t k = 0; k < n; ++k) {
      const Entry& e = s.ring[(s.head + k) % n];
      if (e.copy && e.ts >= r.from && e.ts <= r.until && involves(r.subject, e.src, e.dst))
        send(s, slot, e.copy);
    }
  }
}

void IncidentRecorder::on_batch(uint32_t shard, rte_mbuf* const* mbufs, const uint64_t* ts,
                                const PacketView* views, const uint16_t* owner, uint32_t n,
                                uint64_t max_ts, bool end_of_input) noexcept {
  Shard& s = *shards_[shard];
  follow_new_requests(s);
  const uint32_t cap = uint32_t(s.ring.size());
  for (uint32_t i = 0; i < n; ++i) {
    if (owner[i] != shard || views[i].ip_version == 0) continue;
    Entry& e = s.ring[s.head];
    rte_mbuf* copy = copy_packet(s, e, mbufs[i]);
    if (!copy) {
      s.ring_misses.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    stamp(copy, ts[i]);
    if (e.copy) rte_pktmbuf_free(e.copy);
    e = Entry{copy, ts[i], views[i].src, views[i].dst};
    s.head = (s.head + 1) % cap;
    for (const Watch& w : s.watching)
      if (ts[i] >= w.from && ts[i] <= w.until && involves(w.subject, e.src, e.dst))
        send(s, w.slot, copy);
  }
  // Windows this shard is past: the last shard past one closes it.
  for (size_t k = 0; k < s.watching.size();) {
    const Watch& w = s.watching[k];
    if (!end_of_input && max_ts <= w.until) {
      ++k;
      continue;
    }
    if (requests_[w.slot].shards_done.fetch_add(1, std::memory_order_acq_rel) + 1 == n_shards_)
      send_close(w.slot);
    s.watching[k] = s.watching.back();
    s.watching.pop_back();
  }
}

// ---- writer thread ---------------------------------------------------------

bool IncidentRecorder::open_slot_file(uint32_t slot) {
  OpenFile& f = open_[slot];
  const std::string& path = slot_path_[slot];
  f.pcapng = create_pcapng(path, &f.fd);
  if (!f.pcapng) {
    write_errors_.fetch_add(1, std::memory_order_relaxed);
    spdlog::error("{}: cannot write the incident capture: {}", path, std::strerror(errno));
    return false;
  }
  f.packets = 0;
  const off_t header = ::lseek(f.fd, 0, SEEK_CUR);
  f.good = header > 0 ? uint64_t(header) : 0;
  return true;
}

void IncidentRecorder::write_packet(uint32_t slot, rte_mbuf* copy) {
  OpenFile& f = open_[slot];
  if (!f.pcapng && !f.failed) f.failed = !open_slot_file(slot);
  if (!f.pcapng) {
    write_errors_.fetch_add(1, std::memory_order_relaxed);
  } else if (f.packets >= cfg_.max_packets || bytes_total_ + copy->pkt_len > cfg_.max_bytes) {
    packets_capped_.fetch_add(1, std::memory_order_relaxed);
  } else {
    bool cut_failed = false;
    const int why = append_blocks(f.pcapng, f.fd, &copy, 1, copy->pkt_len, f.good, &cut_failed);
    if (why == 0) {
      ++f.packets;
      f.good += copy->pkt_len;
      bytes_total_ += copy->pkt_len;
      packets_.fetch_add(1, std::memory_order_relaxed);
      bytes_.fetch_add(copy->pkt_len, std::memory_order_relaxed);
    } else {
      // Cut back to its last whole packet, the file stays readable.
      write_errors_.fetch_add(1, std::memory_order_relaxed);
      if (!f.reported)
        spdlog::error("{}: cannot write the incident capture: {}{}", slot_path_[slot],
                      std::strerror(why),
                      cut_failed ? " (and cannot cut it back: it may end torn)" : "");
      f.reported = true;
    }
  }
  rte_pktmbuf_free(copy);
}

void IncidentRecorder::close_slot(uint32_t slot) {
  OpenFile& f = open_[slot];
  // An incident whose packets all left the rings still gets its (empty)
  // file, so the name in its alert is never dangling.
  if (!f.pcapng && !f.failed) open_slot_file(slot);
  if (f.pcapng) {
    rte_pcapng_close(f.pcapng);  // closes the fd too
    files_.fetch_add(1, std::memory_order_relaxed);
  }
  f = OpenFile{};
  requests_[slot].id.store(0, std::memory_order_release);
}

uint32_t IncidentRecorder::drain_once() {
  Msg msgs[kBurst];
  const uint32_t n = rte_ring_sc_dequeue_burst_elem(queue_, msgs, sizeof(Msg), kBurst, nullptr);
  for (uint32_t i = 0; i < n; ++i) {
    if (msgs[i].close)
      close_slot(msgs[i].slot);
    else
      write_packet(msgs[i].slot, msgs[i].copy);
  }
  return n;
}

void IncidentRecorder::writer_loop() {
  drain_until_done(done_, std::chrono::microseconds(500), [this] { return drain_once(); });
}

void IncidentRecorder::finish() {
  if (finished_) return;
  finished_ = true;
  // Alerts of the last batch (deadlines decided at the end of input) came
  // after the shards' last batch: serve them here, from the rings, now that
  // the packet threads have stopped.
  for (uint32_t i = 0; i < shards_.size(); ++i)
    on_batch(i, nullptr, nullptr, nullptr, nullptr, 0, UINT64_MAX, true);
  done_.store(true, std::memory_order_release);
  if (writer_.joinable()) writer_.join();
  // Requests the shards never closed (a live run stopped mid-window).
  for (uint32_t slot = 0; slot < kSlots; ++slot)
    if (requests_[slot].id.load(std::memory_order_acquire) != 0) close_slot(slot);
}

IncidentCounters IncidentRecorder::counters() const {
  IncidentCounters c;
  c.files = files_.load(std::memory_order_relaxed);
  c.packets = packets_.load(std::memory_order_relaxed);
  c.bytes = bytes_.load(std::memory_order_relaxed);
  c.skipped_files_cap = skipped_files_cap_.load(std::memory_order_relaxed);
  c.skipped_busy = skipped_busy_.load(std::memory_order_relaxed);
  c.packets_capped = packets_capped_.load(std::memory_order_relaxed);
  c.write_errors = write_errors_.load(std::memory_order_relaxed);
  for (const auto& s : shards_) {
    c.ring_misses += s->ring_misses.load(std::memory_order_relaxed);
    c.packets_dropped += s->dropped.load(std::memory_order_relaxed);
  }
  return c;
}

}  // namespace harrier
