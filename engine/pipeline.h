// The TBB flow graph that carries bursts from the ports to the alert queue:
//
//   rx -> decode* -> seq -> { flow shard 0..N-1 } -> gather -> seq
//      -> { host shard 0..N-1 } -> gather -> seq -> emit (-> batch back to rx)
//
// rx and every shard node are serial (one thread owns each shard); decode runs
// on as many batches at once as there are threads. Sequencers restore input
// order after each parallel stage, so host shards see events in packet order
// and the alert set never depends on the worker count. The fixed set of
// batches bounds what is in flight: rx waits for emit to return one, so
// memory is fixed and a slow stage back-pressures rx.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "capture/capture_tap.h"
#include "engine/alert_queue.h"
#include "engine/event_tap.h"
#include "engine/runtime_snapshot.h"
#include "engine/shard.h"
#include "engine/source.h"
#include "dataplane/flow_table.h"
#include "detectors/incident_fusion.h"

namespace harrier {

struct PipelineConfig {
  uint32_t workers = 1;               // flow shards = host shards
  uint32_t batch_size = 256;          // packets per message
  uint32_t in_flight = 0;             // batches in the graph at once; 0 = 2 * workers + 2
  uint32_t flow_capacity = 1u << 20;  // flows in all, split evenly among workers
  FlowTimeouts timeouts;
  uint32_t alerts_per_batch = 32;  // per shard; more in one batch spill over (AlertSink)
  // Live: spilled alerts one shard may add to one batch; beyond it they are
  // counted as dropped. Offline (lossless) nothing is dropped.
  uint32_t alert_spill_limit = 65536;
  // Live: connection outcomes one flow shard hands on per batch; past it
  // they wait on the flow table's list for the next batch, counted as
  // deferred (never lost). Offline all due outcomes go at once.
  uint32_t outcomes_per_batch = 65536;
  bool lossless = false;        // offline: wait for the output side instead of dropping
  uint32_t heartbeat_ms = 100;  // live: an empty batch after this long without packets
  int socket = 0;               // NUMA socket the shards allocate on
  // Ports (by id, below 64) whose NIC hashes with the symmetric key: their
  // RSS hash picks the flow shard. Others are hashed in software.
  uint64_t symmetric_rss_ports = 0;
  int numa_node = -1;  // TBB arena's NUMA node (-1: not pinned)
  // Register the worker threads as DPDK lcores (per-lcore mempool caches).
  // DPDK then refuses secondary processes, so dpdk-dumpcap needs this off.
  bool register_lcores = true;
  // Recording, --print and incident captures (capture/capture_tap.h); none: off.
  CaptureTap* capture = nullptr;
  // Host events out to other processes (engine/event_tap.h); none: off.
  EventTap* events = nullptr;
  // One activity, one incident: the emit stage's fusion of alerts.
  FusionConfig fusion;
};

// The emit stage's own counts.
struct PipelineCounters {
  uint64_t batches = 0;
  uint64_t packets = 0;
  uint64_t alerts = 0;          // incidents' alerts passed to the output
  uint64_t alerts_folded = 0;   // detectors' alerts folded into another's incident
  uint64_t alerts_dropped = 0;  // live: a full alert queue
  // rx found every batch in flight and waited: the pipeline, not the input,
  // was the bottleneck. Nothing is dropped here; a NIC's queue fills
  // meanwhile and its own drops show as imissed.
  uint64_t rx_waits = 0;
  // Steps back in packet time past one grace that could not start a new
  // timeline (the answer clock's offset bound): attempts after each waited
  // on the old clock.
  uint64_t timelines_refused = 0;
  uint64_t capture_kept = 0;  // packets the capture filter passed to --write / --print
  FusionCounters fusion;
  uint32_t incidents_open = 0;
  uint32_t incidents_held = 0;  // first alerts waiting for their lookahead
};

// Every count of a run, summed once: the emit stage's and all shards'. The
// end-of-run report, the `stats` reply and the metrics all read this, so a
// count added to a shard reaches every report through one sum.
struct EngineTotals {
  PipelineCounters emit;
  FlowShardCounters flow;   // over all flow shards
  FlowTableCounters table;  // over all flow tables
  HostShardCounters host;   // over all host shards
  uint64_t flows_in_table = 0;
  uint64_t flow_capacity = 0;

  // Live: past a shard's spill bound, or a full alert queue.
  uint64_t alerts_dropped() const {
    return emit.alerts_dropped + flow.alerts_dropped + host.alerts_dropped;
  }
  // More in one batch than its slots: kept, spilled.
  uint64_t alerts_spilled() const { return flow.alerts_spilled + host.alerts_spilled; }
};

class Pipeline {
 public:
  // `initial`'s built detectors get their per-shard state now; every later
  // snapshot must build the same ones (same registry indexes).
  static std::unique_ptr<Pipeline> create(const PipelineConfig& cfg, const RuntimeSnapshot* initial,
                                          PacketSource* source, AlertQueue* alerts,
                                          std::string* error);
  ~Pipeline();

  // Runs until the source is finished (offline) or stop() is called, then
  // drains every batch in flight and flushes detector deadlines.
  void run();
  // Any thread: finish at the next burst.
  void stop() { stop_.store(true, std::memory_order_relaxed); }

  // Any thread: batches filled from now on run with `s` (a reload). The
  // caller keeps `s` alive, and the snapshots before it until
  // generation_in_effect() reaches s->generation.
  void publish(const RuntimeSnapshot* s) { snapshot_.store(s, std::memory_order_release); }
  // The generation of the last batch emitted: no batch in the pipeline
  // uses an older snapshot.
  uint64_t generation_in_effect() const { return in_effect_.load(std::memory_order_acquire); }

  // Any thread: the emit stage's counts (atomics, never torn).
  PipelineCounters live_counters() const;
  // Any thread: every count, the shards' as of their last batch (published
  // under a sequence lock); exact once run() returned.
  EngineTotals totals() const;
  // Any thread: alerts emitted by the detector at this registry index (the
  // incidents it named; what it folded into others' is not counted here).
  uint64_t alerts_of(size_t detector) const {
    return detector < kMaxDetectors
               ? counters_.by_detector[detector].load(std::memory_order_relaxed)
               : 0;
  }
  // Any thread: each detector's counter table (pegs), summed over the
  // shards, for the detectors that keep counters.
  std::vector<PegValues> detector_pegs() const;
  const std::vector<std::unique_ptr<FlowShard>>& flow_shards() const { return flow_; }
  const std::vector<std::unique_ptr<HostShard>>& host_shards() const { return host_; }

 private:
  struct Graph;
  Pipeline() = default;
  bool fill(Batch* b) noexcept;
  uint64_t advance_clock(uint64_t ts) noexcept;
  void decode(Batch* b) const noexcept;
  void emit(Batch* b) noexcept;

  PipelineConfig cfg_;
  PacketSource* source_ = nullptr;
  AlertQueue* alerts_ = nullptr;
  std::vector<std::unique_ptr<FlowShard>> flow_;
  std::vector<std::unique_ptr<HostShard>> host_;
  // Each built detector's counter rows, by registry index (set at create;
  // the rows are static text, a later snapshot's detector has the same).
  std::vector<std::pair<std::string, std::vector<PegInfo>>> pegs_;
  std::vector<Batch*> batches_;
  std::vector<std::unique_ptr<std::deque<Alert>[]>> spills_;  // each batch's spill lists
  std::vector<std::unique_ptr<std::vector<HostEvent>[]>> outcome_lists_;  // each batch's outcomes
  std::vector<void*> allocations_;
  std::atomic<uint32_t> free_batches_{0};  // tokens waiting at rx
  std::vector<Alert*> sort_scratch_;
  std::unique_ptr<IncidentFusion> fusion_;
  std::vector<Alert> fused_;  // the emit stage's records after fusion
  std::atomic<bool> stop_{false};
  std::atomic<const RuntimeSnapshot*> snapshot_{nullptr};
  std::atomic<uint64_t> in_effect_{0};
  bool end_sent_ = false;
  uint64_t next_seq_ = 0;
  uint64_t next_order_ = 0;
  uint64_t last_ts_ = 0;
  uint64_t answer_clock_ = 0;  // Batch::clock, carried across batches
  uint64_t clock_offset_ = 0;  // added to packet time: grows at each new timeline
  static constexpr uint64_t kMaxClockOffset = 1ull << 62;
  uint64_t last_packet_clock_ = 0;   // answer_clock_ after the last packet (heartbeats)
  uint64_t last_packet_wall_ = 0;    // live: wall time of the last packets
  uint64_t last_activity_wall_ = 0;  // live: ... or of the last heartbeat
  static constexpr size_t kMaxDetectors = 64;
  struct {
    std::atomic<uint64_t> batches{0}, packets{0}, alerts{0}, alerts_folded{0}, alerts_dropped{0},
        capture_kept{0};
    // The fusion stage's counts, copied after each batch for other threads.
    std::atomic<uint64_t> incidents{0}, takeovers{0}, fold_updates{0}, fusion_evicted{0},
        unfused{0};
    std::atomic<uint32_t> incidents_open{0}, incidents_held{0};
    std::atomic<uint64_t> by_detector[kMaxDetectors]{};
    std::atomic<uint64_t> rx_waits{0};           // the rx stage's
    std::atomic<uint64_t> timelines_refused{0};  // the rx stage's
  } counters_;  // written by the emit stage only, but for the rx stage's two
};

}  // namespace harrier
