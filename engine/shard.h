// The two kinds of shard. Each is owned by one serial graph node: whatever it
// holds (flow table, detector state, counters) is touched by one thread at a
// time and allocated on the pipeline's socket.
//
//  FlowShard  - the flows whose symmetric hash maps to it: flow table, flow
//               state machine, stateless and flow-local detectors; turns
//               connection attempts into HostEvents for the host shards.
//  HostShard  - the sources whose address hash maps to it: host-behaviour
//               detectors fed by the events of every flow shard, merged back
//               into packet order so counting never depends on worker count.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/batch.h"
#include "engine/host_stage.h"
#include "engine/published.h"
#include "engine/runtime_snapshot.h"
#include "dataplane/flow_table.h"
#include "detectors/detector.h"

namespace harrier {

struct alignas(64) FlowShardCounters {
  uint64_t packets = 0;
  uint64_t bytes = 0;
  uint64_t decode_errors[size_t(DecodeError::kCount)]{};
  uint64_t non_ip = 0;
  uint64_t icmp_errors = 0;
  uint64_t icmp_errors_unmatched = 0;  // quote names no flow we saw
  uint64_t events = 0;
  uint64_t events_dropped = 0;     // event budget of a batch exceeded
  uint64_t events_capped = 0;      // a packet's events to one detector beyond the per-packet cap
  uint64_t outcomes = 0;           // connection outcomes reported (unanswered, refused, open)
  uint64_t outcomes_deferred = 0;  // live batches that left due outcomes for the next batch
  uint64_t alerts = 0;
  uint64_t alerts_spilled = 0;  // past the batch's slots, kept in its spill list
  uint64_t alerts_dropped = 0;  // live only: past the spill list's bound
  uint64_t no_flow = 0;         // flow table could not insert

  FlowShardCounters& operator+=(const FlowShardCounters& o) {
    packets += o.packets, bytes += o.bytes;
    for (size_t i = 0; i < size_t(DecodeError::kCount); ++i)
      decode_errors[i] += o.decode_errors[i];
    non_ip += o.non_ip, icmp_errors += o.icmp_errors;
    icmp_errors_unmatched += o.icmp_errors_unmatched;
    events += o.events, events_dropped += o.events_dropped, events_capped += o.events_capped;
    outcomes += o.outcomes, outcomes_deferred += o.outcomes_deferred;
    alerts += o.alerts, alerts_spilled += o.alerts_spilled, alerts_dropped += o.alerts_dropped;
    no_flow += o.no_flow;
    return *this;
  }
  uint64_t undecodable() const {
    uint64_t n = 0;
    for (uint64_t e : decode_errors)
      n += e;
    return n;
  }
};

// What a flow shard publishes for readers while it runs.
struct FlowShardSnapshot {
  FlowShardCounters shard;
  FlowTableCounters table;
  uint64_t flows = 0;  // in the table now
  uint64_t flow_capacity = 0;
};

struct alignas(64) HostShardCounters {
  uint64_t events = 0;
  uint64_t outcomes = 0;  // connection outcomes taken
  uint64_t alerts = 0;
  uint64_t alerts_spilled = 0;
  uint64_t alerts_dropped = 0;

  HostShardCounters& operator+=(const HostShardCounters& o) {
    events += o.events, outcomes += o.outcomes, alerts += o.alerts;
    alerts_spilled += o.alerts_spilled, alerts_dropped += o.alerts_dropped;
    return *this;
  }
};

class FlowShard {
 public:
  FlowShard(uint32_t id, int socket, uint32_t batch_cap)
      : id_(id),
        socket_(socket),
        pkts_(batch_cap),
        clock_(batch_cap),
        keys_(batch_cap),
        key_ptrs_(batch_cap),
        key_pkt_(batch_cap),
        key_src_lo_(batch_cap),
        key_ts_(batch_cap),
        icmp_errors_(batch_cap) {}

  // Main thread: allocates the flow table and attaches the snapshot's
  // built detectors (their state lives here for the whole run).
  bool init(uint32_t flow_capacity, const FlowTimeouts& timeouts, const RuntimeSnapshot& snap,
            std::string* error);

  // Packet thread: this shard's packets of one batch.
  void process(Batch& b) noexcept;

  // This shard's thread, or once the pipeline stopped.
  const FlowShardCounters& counters() const { return counters_; }
  // Any thread, while running: as of the end of the last batch.
  FlowShardSnapshot snapshot() const { return published_.read(); }
  const FlowTable& flows() const { return *flows_; }
  // Attached at init and never changed: any thread may read their pegs.
  const std::vector<AttachedDetector>& attached() const { return detectors_; }

 private:
  // Once per packet, from one place: inlined into process().
  [[gnu::always_inline]] inline void update_flow(PacketCtx& c, FlowEntry& f,
                                                 bool src_is_lo) noexcept;
  void on_icmp_error(PacketCtx& c, uint64_t clock) noexcept;
  void report_outcome(std::vector<HostEvent>& out, const FlowEntry& f) noexcept;

  uint32_t id_;
  int socket_;
  RuntimeView rt_;  // the current batch's
  std::unique_ptr<FlowTable> flows_;
  std::vector<AttachedDetector> detectors_;
  // Scratch for one batch, sized once.
  std::vector<PacketCtx> pkts_;
  std::vector<uint64_t> clock_;  // Batch::clock of each packet
  std::vector<FlowKey> keys_;
  std::vector<const FlowKey*> key_ptrs_;
  std::vector<uint32_t> key_pkt_;
  std::vector<uint8_t> key_src_lo_;    // packet's source is the key's "lo" endpoint
  std::vector<uint64_t> key_ts_;       // packet time of each key
  std::vector<uint32_t> icmp_errors_;  // packets that quote another flow's packet
  // Packet dispatch, by registry index: which detectors are attached, where
  // in detectors_, and the packets of the batch each one gets.
  uint32_t attached_ = 0;
  std::array<uint8_t, PacketDispatch::kMaxDetectors> slot_of_{};
  std::array<std::vector<uint16_t>, PacketDispatch::kMaxDetectors> picked_;
  std::array<uint32_t, PacketDispatch::kMaxDetectors> n_picked_{};
  FlowShardCounters counters_;
  Published<FlowShardSnapshot> published_;
};

class HostShard {
 public:
  HostShard(uint32_t id, uint32_t n_flow_shards, int socket, uint32_t event_cap,
            uint64_t answer_grace_ns)
      : id_(id), n_flow_shards_(n_flow_shards), socket_(socket), answer_grace_ns_(answer_grace_ns) {
    merged_.reserve(event_cap);
  }

  bool init(const RuntimeSnapshot& snap, std::string* error);
  void process(Batch& b) noexcept;
  const HostShardCounters& counters() const { return counters_; }
  HostShardCounters snapshot() const { return published_.read(); }  // any thread
  const std::vector<AttachedDetector>& attached() const { return stage_.attached(); }

 private:
  void merge(HostEvent* const* lists, const uint32_t* counts);

  uint32_t id_;
  uint32_t n_flow_shards_;
  int socket_;
  uint64_t answer_grace_ns_;
  uint64_t input_start_ns_ = 0;  // the first packet's time (ShardCtx::input_start_ns)
  HostStage stage_;
  std::vector<HostEvent> merged_;  // one batch's events, then its outcomes
  HostShardCounters counters_;
  Published<HostShardCounters> published_;
};

}  // namespace harrier
