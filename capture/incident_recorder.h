// Incident captures: the packets behind each alert, in one pcapng per
// incident, named in the alert's EVE record.
//
// Each flow shard keeps a ring of its recent packets (pcapng-ready copies in
// the shard's own pool, with time and addresses beside them), written only
// by that shard's thread. When an incident raises its first alert, the emit
// stage publishes a request: the incident's subject (the source, or the
// victim for backscatter), and a window from `before` seconds ahead of the
// incident's first packet to `after` seconds past the alert. Each shard, at
// its next batch, sends the writer the ring's packets of that subject in the
// window, then matches its new packets until packet time passes the window.
// The last shard to pass it closes the request, and the writer thread
// completes the file. Nothing here blocks a live packet path: a full queue
// or pool drops and counts; offline the shards wait instead, so a file read
// gives complete incident captures.
//
// Bounded everywhere: ring_packets per shard, 64 incidents open at once,
// max_packets per incident, max_files and max_bytes per run.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "capture/capture_config.h"
#include "capture/capture_tap.h"
#include "dataplane/packet.h"

struct rte_mbuf;
struct rte_mempool;
struct rte_ring;
struct rte_pcapng;

namespace harrier {

struct IncidentCounters {
  uint64_t files = 0;              // incident captures completed
  uint64_t packets = 0;            // packets written to them
  uint64_t bytes = 0;              // bytes written to them
  uint64_t skipped_files_cap = 0;  // incidents without a capture: max_files reached
  uint64_t skipped_busy = 0;       // ... all 64 request slots in use
  uint64_t packets_capped = 0;     // packets past max_packets or max_bytes
  uint64_t packets_dropped = 0;    // queue or pool full (live only)
  uint64_t ring_misses = 0;        // packets not kept in a ring: its pool was held up
  uint64_t write_errors = 0;
};

class IncidentRecorder {
 public:
  static std::unique_ptr<IncidentRecorder> create(const IncidentCaptureConfig& cfg,
                                                  uint32_t n_shards, int socket, bool lossless,
                                                  std::string* error);
  ~IncidentRecorder();
  IncidentRecorder(const IncidentRecorder&) = delete;
  IncidentRecorder& operator=(const IncidentRecorder&) = delete;

  // Flow shard `shard`'s thread, once per batch: keeps this shard's packets
  // (those with owner[i] == shard) and serves the open requests.
  void on_batch(uint32_t shard, rte_mbuf* const* mbufs, const uint64_t* ts, const PacketView* views,
                const uint16_t* owner, uint32_t n, uint64_t max_ts, bool end_of_input) noexcept;

  // Emit thread: the capture id an alert names (0: none). A first alert
  // opens a request; an update names its incident's file.
  uint32_t on_alert(const IncidentRef& ref);

  // Any thread: the file of a capture id.
  std::string file_for(uint32_t id) const;

  // After the pipeline stopped (its threads are idle): serves what is still
  // open from the rings and completes every file.
  void finish();
  IncidentCounters counters() const;
  const std::string& dir() const { return cfg_.dir; }

 private:
  static constexpr uint32_t kSlots = 64;
  struct Request {
    std::atomic<uint32_t> id{0};  // capture id; 0 = free. Published last, freed by the writer.
    IpAddr subject;
    uint64_t from = 0, until = 0;
    std::atomic<uint32_t> shards_done{0};
  };
  struct Entry {
    rte_mbuf* copy = nullptr;
    uint64_t ts = 0;
    IpAddr src, dst;
  };
  struct Watch {  // a request as one shard follows it
    uint32_t slot, id;
    IpAddr subject;
    uint64_t from, until;
  };
  struct Shard {
    rte_mempool* pool = nullptr;
    std::vector<Entry> ring;
    uint32_t head = 0;  // next entry to overwrite
    uint64_t seen_generation = 0;
    std::array<uint32_t, kSlots> seen{};
    std::vector<Watch> watching;
    std::atomic<uint64_t> ring_misses{0}, dropped{0};
  };
  struct Msg {
    uint32_t slot;
    uint32_t close;  // 1: every shard is past the window
    rte_mbuf* copy;
  };
  struct OpenFile {
    int fd = -1;
    rte_pcapng* pcapng = nullptr;
    uint32_t packets = 0;
    uint64_t good = 0;      // end of its last whole block
    bool failed = false;    // could not be created: its packets are counted as lost
    bool reported = false;  // a write error was logged
  };

  IncidentRecorder() = default;
  void send(Shard& s, uint32_t slot, rte_mbuf* copy) noexcept;
  rte_mbuf* copy_packet(Shard& s, Entry& oldest, const rte_mbuf* m) noexcept;
  void send_close(uint32_t slot) noexcept;
  void follow_new_requests(Shard& s) noexcept;
  void writer_loop();
  uint32_t drain_once();
  void write_packet(uint32_t slot, rte_mbuf* copy);
  void close_slot(uint32_t slot);
  bool open_slot_file(uint32_t slot);

  IncidentCaptureConfig cfg_;
  uint32_t n_shards_ = 0;
  bool lossless_ = false;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::array<Request, kSlots> requests_;
  std::atomic<uint64_t> generation_{0};
  rte_ring* queue_ = nullptr;
  std::thread writer_;
  std::atomic<bool> done_{false};
  bool finished_ = false;

  // Emit thread.
  uint32_t next_id_ = 1;
  uint64_t files_started_ = 0;
  std::map<std::tuple<uint16_t, uint64_t, IpAddr, IpAddr>, uint32_t> by_incident_;

  // Writer thread.
  std::array<OpenFile, kSlots> open_;
  uint64_t bytes_total_ = 0;

  mutable std::mutex paths_mu_;  // emit writes, output reads
  std::map<uint32_t, std::string> paths_;
  std::array<std::string, kSlots> slot_path_;  // written before the slot is published

  std::atomic<uint64_t> files_{0}, packets_{0}, bytes_{0}, skipped_files_cap_{0}, skipped_busy_{0},
      packets_capped_{0}, write_errors_{0};
};

}  // namespace harrier
