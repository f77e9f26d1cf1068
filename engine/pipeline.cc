#include "engine/pipeline.h"

#include <algorithm>
#include <optional>
#include <thread>
#include <tuple>

#include <oneapi/tbb/flow_graph.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_scheduler_observer.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>

#include "dataplane/decode.h"
#include "dataplane/softrss.h"
#include "detectors/registry.h"

namespace harrier {

namespace flow = oneapi::tbb::flow;

namespace {

// TBB's threads touch mempools (mbuf frees, alert records). Registered with
// EAL they get an lcore id and so a per-lcore mempool cache instead of the
// shared ring on every free.
class EalThreadObserver : public oneapi::tbb::task_scheduler_observer {
 public:
  explicit EalThreadObserver(oneapi::tbb::task_arena& a) : task_scheduler_observer(a) {
    observe(true);
  }
  ~EalThreadObserver() override { observe(false); }
  void on_scheduler_entry(bool) override {
    if (rte_lcore_id() == LCORE_ID_ANY) rte_thread_register();
  }
};

template <typename T>
T* alloc_array(std::vector<void*>& owned, size_t n, int socket) {
  void* p =
      rte_zmalloc_socket("harrier_batch", sizeof(T) * (n ? n : 1), RTE_CACHE_LINE_SIZE, socket);
  if (p) owned.push_back(p);
  return static_cast<T*>(p);
}

// What capture sees of a batch.
TapBatch tap_view(const Batch& b) {
  TapBatch t;
  t.mbufs = b.mbufs, t.ts = b.ts, t.views = b.views, t.decode_err = b.decode_err;
  t.flow_shard = b.flow_shard, t.keep = b.capture, t.n = b.n;
  t.max_ts = b.max_ts, t.end_of_input = b.end_of_input;
  return t;
}

}  // namespace

using Gather = flow::multifunction_node<Batch*, std::tuple<Batch*>>;

using Rx = flow::multifunction_node<Batch*, std::tuple<Batch*>>;

struct Pipeline::Graph {
  flow::graph g;
  Rx rx;
  flow::function_node<Batch*, Batch*> decode;
  flow::sequencer_node<Batch*> seq_decoded;
  flow::broadcast_node<Batch*> to_flow;
  std::vector<std::unique_ptr<flow::function_node<Batch*, Batch*>>> flow_nodes;
  Gather flow_done;
  flow::sequencer_node<Batch*> seq_flowed;
  flow::broadcast_node<Batch*> to_host;
  std::vector<std::unique_ptr<flow::function_node<Batch*, Batch*>>> host_nodes;
  Gather host_done;
  flow::sequencer_node<Batch*> seq_done;
  flow::function_node<Batch*, Batch*> emit;

  static size_t by_seq(Batch* const& b) { return size_t(b->seq); }

  // The batches are tokens (tbb::parallel_pipeline's pattern): rx fills the
  // free batch it is handed and sends it on; emit hands each batch back to
  // rx when done. With every batch in flight rx has nothing to run, so no
  // thread waits for a free batch: the one that would have spun works on
  // the batches instead. After the end-of-input batch, tokens are dropped
  // and the graph drains.
  explicit Graph(Pipeline& p)
      : rx(g, flow::serial,
           [&p](Batch* b, Rx::output_ports_type& out) {
             p.free_batches_.fetch_sub(1, std::memory_order_relaxed);
             if (!p.fill(b)) return;  // the input is over: the token retires
             // No batch left for the next fill: the pipeline, not the input,
             // is the bottleneck now (live, the NIC queue holds the rest).
             if (p.free_batches_.load(std::memory_order_relaxed) == 0)
               p.counters_.rx_waits.fetch_add(1, std::memory_order_relaxed);
             std::get<0>(out).try_put(b);
           }),
        decode(g, flow::unlimited,
               [&p](Batch* b) {
                 p.decode(b);
                 return b;
               }),
        seq_decoded(g, &Graph::by_seq),
        to_flow(g),
        flow_done(g, flow::unlimited,
                  [&p](Batch* b, Gather::output_ports_type& out) {
                    if (b->pending.fetch_sub(1, std::memory_order_acq_rel) == 1) {
                      b->pending.store(uint32_t(p.host_.size()), std::memory_order_relaxed);
                      std::get<0>(out).try_put(b);
                    }
                  }),
        seq_flowed(g, &Graph::by_seq),
        to_host(g),
        host_done(g, flow::unlimited,
                  [&p](Batch* b, Gather::output_ports_type& out) {
                    if (b->pending.fetch_sub(1, std::memory_order_acq_rel) == 1)
                      std::get<0>(out).try_put(b);
                  }),
        seq_done(g, &Graph::by_seq),
        emit(g, flow::serial, [&p](Batch* b) {
          p.emit(b);
          p.free_batches_.fetch_add(1, std::memory_order_relaxed);
          return b;  // back to rx
        }) {
    for (uint32_t i = 0; i < p.flow_.size(); ++i) {
      FlowShard* s = p.flow_[i].get();
      CaptureTap* capture = p.cfg_.capture;
      flow_nodes.push_back(std::make_unique<flow::function_node<Batch*, Batch*>>(
          g, flow::serial, [s, i, capture](Batch* b) {
            s->process(*b);
            if (capture) capture->on_flow_batch(i, tap_view(*b));
            return b;
          }));
    }
    for (auto& shard : p.host_) {
      HostShard* s = shard.get();
      host_nodes.push_back(
          std::make_unique<flow::function_node<Batch*, Batch*>>(g, flow::serial, [s](Batch* b) {
            s->process(*b);
            return b;
          }));
    }
    // The topology, in one place.
    flow::make_edge(flow::output_port<0>(rx), decode);
    flow::make_edge(decode, seq_decoded);
    flow::make_edge(seq_decoded, to_flow);
    for (auto& n : flow_nodes) {
      flow::make_edge(to_flow, *n);
      flow::make_edge(*n, flow_done);
    }
    flow::make_edge(flow::output_port<0>(flow_done), seq_flowed);
    flow::make_edge(seq_flowed, to_host);
    for (auto& n : host_nodes) {
      flow::make_edge(to_host, *n);
      flow::make_edge(*n, host_done);
    }
    flow::make_edge(flow::output_port<0>(host_done), seq_done);
    flow::make_edge(seq_done, emit);
    flow::make_edge(emit, rx);
  }
};

std::unique_ptr<Pipeline> Pipeline::create(const PipelineConfig& cfg_in,
                                           const RuntimeSnapshot* initial, PacketSource* source,
                                           AlertQueue* alerts, std::string* error) {
  std::unique_ptr<Pipeline> p(new Pipeline());
  PipelineConfig cfg = cfg_in;
  if (cfg.workers == 0 || cfg.workers > 64) {
    *error = "workers must be 1..64, got " + std::to_string(cfg.workers);
    return nullptr;
  }
  if (cfg.in_flight == 0) cfg.in_flight = 2 * cfg.workers + 2;
  if (detector_registry().size() > kMaxDetectors) {
    *error = "more detectors than the per-detector alert counters hold";
    return nullptr;
  }
  p->cfg_ = cfg;
  p->source_ = source;
  p->alerts_ = alerts;
  p->snapshot_.store(initial, std::memory_order_relaxed);
  p->in_effect_.store(initial->generation, std::memory_order_relaxed);
  const uint32_t n = cfg.workers;
  const uint32_t per_shard_flows = std::max<uint32_t>(1024, cfg.flow_capacity / n);
  // Room for every packet's ICMP-error event plus a few detector events
  // each (connection outcomes have lists of their own: Batch::outcomes); a detector's own events
  // per packet are capped (kMaxDetectorEventsPerPacket), so only a batch where most packets speak
  // to many detectors at once can overflow, and that is counted.
  const uint32_t event_cap = cfg.batch_size * (2 + kMaxDetectorEventsPerPacket);
  p->pegs_.resize(initial->detectors.size());
  for (size_t i = 0; i < initial->detectors.size(); ++i)
    if (const Detector* d = initial->detectors[i]) {
      const auto rows = d->pegs();
      p->pegs_[i] = {std::string(d->descriptor().id), {rows.begin(), rows.end()}};
    }
  for (uint32_t i = 0; i < n; ++i) {
    p->flow_.push_back(std::make_unique<FlowShard>(i, cfg.socket, cfg.batch_size));
    if (!p->flow_.back()->init(per_shard_flows, cfg.timeouts, *initial, error)) return nullptr;
  }
  for (uint32_t i = 0; i < n; ++i) {
    p->host_.push_back(std::make_unique<HostShard>(
        i, n, cfg.socket, event_cap * n, uint64_t(cfg.timeouts.answer_grace_ms) * 1'000'000ull));
    if (!p->host_.back()->init(*initial, error)) return nullptr;
  }

  // The fixed set of batches: rx takes a free one for each burst and waits
  // when none is free, so these bound what is in flight.
  const uint32_t n_batches = cfg.in_flight + 1;
  static std::atomic<int> instance{0};
  auto& own = p->allocations_;
  const uint32_t B = cfg.batch_size, slots = 2 * n;
  for (uint32_t i = 0; i < n_batches; ++i) {
    Batch* b = alloc_array<Batch>(own, 1, cfg.socket);
    if (!b) break;
    new (b) Batch();
    b->mbufs = alloc_array<rte_mbuf*>(own, B, cfg.socket);
    b->ts = alloc_array<uint64_t>(own, B, cfg.socket);
    b->clock = alloc_array<uint64_t>(own, B, cfg.socket);
    b->views = alloc_array<PacketView>(own, B, cfg.socket);
    b->decode_err = alloc_array<uint8_t>(own, B, cfg.socket);
    b->flow_shard = alloc_array<uint16_t>(own, B, cfg.socket);
    b->capture = alloc_array<uint8_t>(own, B, cfg.socket);
    b->events = alloc_array<HostEvent*>(own, n, cfg.socket);
    b->n_events = alloc_array<uint32_t>(own, n, cfg.socket);
    b->event_cap = event_cap;
    b->alerts = alloc_array<Alert*>(own, slots, cfg.socket);
    b->n_alerts = alloc_array<uint32_t>(own, slots, cfg.socket);
    b->alert_cap = cfg.alerts_per_batch;
    p->outcome_lists_.push_back(std::make_unique<std::vector<HostEvent>[]>(n));
    b->outcomes = p->outcome_lists_.back().get();
    for (uint32_t s = 0; s < n; ++s)
      b->outcomes[s].reserve(B);
    b->outcome_limit = cfg.lossless ? UINT32_MAX : cfg.outcomes_per_batch;
    p->spills_.push_back(std::make_unique<std::deque<Alert>[]>(slots));
    b->spill = p->spills_.back().get();
    b->spill_limit = cfg.lossless ? SIZE_MAX : cfg.alert_spill_limit;
    bool ok = b->mbufs && b->ts && b->views && b->decode_err && b->flow_shard && b->events &&
              b->n_events && b->alerts && b->n_alerts;
    for (uint32_t s = 0; ok && s < n; ++s)
      ok = (b->events[s] = alloc_array<HostEvent>(own, event_cap, cfg.socket));
    for (uint32_t s = 0; ok && s < slots; ++s)
      ok = (b->alerts[s] = alloc_array<Alert>(own, cfg.alerts_per_batch, cfg.socket));
    if (!ok) {
      *error = "cannot allocate batch buffers on socket " + std::to_string(cfg.socket) +
               " (batch size " + std::to_string(B) + ", " + std::to_string(n) + " workers)";
      return nullptr;
    }
    p->batches_.push_back(b);
  }
  p->sort_scratch_.reserve(size_t(slots) * cfg.alerts_per_batch);
  p->fused_.reserve(size_t(slots) * cfg.alerts_per_batch * 2);
  p->fusion_ = IncidentFusion::create(
      cfg.fusion, uint64_t(cfg.timeouts.answer_grace_ms) * 1'000'000ull, cfg.socket, error);
  if (!p->fusion_) return nullptr;
  return p;
}

Pipeline::~Pipeline() {
  for (Batch* b : batches_)
    b->~Batch();
  for (void* a : allocations_)
    rte_free(a);
}

// See Batch::clock.
uint64_t Pipeline::advance_clock(uint64_t ts) noexcept {
  const uint64_t grace = uint64_t(cfg_.timeouts.answer_grace_ms) * 1'000'000ull;
  const uint64_t t = ts + clock_offset_;
  if (t + grace < answer_clock_) {
    // The old timeline's last deadline is at most answer_clock_ + grace.
    // The offset is bounded (2^62 ns, 146 years, past any pcap time's
    // 2^32 s): inputs that keep jumping between time bases stop starting
    // new timelines there, and wait on the old clock instead of wrapping.
    const uint64_t step = answer_clock_ - t + grace;
    if (clock_offset_ + step <= kMaxClockOffset) {
      clock_offset_ += step;
      answer_clock_ = ts + clock_offset_;
    } else {
      counters_.timelines_refused.fetch_add(1, std::memory_order_relaxed);
    }
  } else if (t > answer_clock_) {
    answer_clock_ = t;
  }
  return answer_clock_;
}

// rx stage: fill one batch from the source. Returns false when there is
// nothing more to send (the end-of-input batch has gone out). Live, a queue
// that stays quiet for heartbeat_ms still sends an empty batch: packet time
// moves on by the wall time since the last packet, so detector deadlines,
// flow timeouts and incident-capture windows close on an idle link too.
bool Pipeline::fill(Batch* b) noexcept {
  if (end_sent_) return false;
  b->n = 0;
  b->end_of_input = false;
  const uint32_t cap = cfg_.batch_size;
  bool heartbeat = false;
  uint32_t idle_polls = 0;
  while (!stop_.load(std::memory_order_relaxed)) {
    const uint32_t want = std::min<uint32_t>(32, cap - b->n);
    const uint32_t got = source_->poll(b->mbufs + b->n, b->ts + b->n, want);
    b->n += got;
    if (b->n == cap || (b->n > 0 && got < want)) break;
    if (b->n == 0 && source_->finished()) break;
    if (got == 0) {
      rte_pause();
      // The clock is read only every 1024 empty polls. A link that has not
      // seen a packet yet beats too: a reload must not wait for traffic.
      if (!cfg_.lossless && cfg_.heartbeat_ms && b->n == 0 && (++idle_polls & 1023) == 0) {
        const uint64_t now = wall_ns();
        if (last_activity_wall_ == 0) last_activity_wall_ = now;
        if (now - last_activity_wall_ >= uint64_t(cfg_.heartbeat_ms) * 1'000'000ull) {
          heartbeat = true;
          last_activity_wall_ = now;
          break;
        }
      }
    }
  }
  if (heartbeat) {
    // Packet time moves on by the wall time since the last packet; before
    // the first there is no packet time to move (0: nothing is due).
    b->max_ts = last_packet_wall_ ? last_ts_ + (last_activity_wall_ - last_packet_wall_) : 0;
    // The answer clock moves on from where the last packet left it (not
    // from last_ts_: after a new timeline that is another time base).
    if (last_packet_wall_)
      answer_clock_ =
          std::max(answer_clock_, last_packet_clock_ + (last_activity_wall_ - last_packet_wall_));
  } else if (b->n == 0) {
    // Offline end or stop request: one empty batch flushes every deadline.
    b->end_of_input = true;
    end_sent_ = true;
    b->max_ts = last_ts_;
  } else {
    uint64_t mx = 0;
    for (uint32_t i = 0; i < b->n; ++i) {
      mx = std::max(mx, b->ts[i]);
      b->clock[i] = advance_clock(b->ts[i]);
    }
    b->max_ts = mx;
    last_ts_ = std::max(last_ts_, mx);
    last_packet_clock_ = answer_clock_;
    if (!cfg_.lossless) last_packet_wall_ = last_activity_wall_ = wall_ns();
  }
  b->clock_end = answer_clock_;
  // A reload published before this point applies from this batch on.
  b->snap = snapshot_.load(std::memory_order_acquire);
  b->seq = next_seq_++;
  b->first_order = next_order_;
  next_order_ += b->n;
  b->pending.store(uint32_t(flow_.size()), std::memory_order_relaxed);
  return true;
}

// decode stage: parse every packet and pick its flow shard by the symmetric
// hash (NIC RSS hash when the NIC computed one with our key).
void Pipeline::decode(Batch* b) const noexcept {
  const uint32_t n_shards = uint32_t(flow_.size());
  for (uint32_t i = 0; i < b->n; ++i) {
    if (i + 4 < b->n) rte_prefetch0(rte_pktmbuf_mtod(b->mbufs[i + 4], void*));
    const rte_mbuf* m = b->mbufs[i];
    PacketView& v = b->views[i];
    const DecodeError err =
        harrier::decode(rte_pktmbuf_mtod(m, const uint8_t*), m->data_len, m->pkt_len, v);
    b->decode_err[i] = uint8_t(err);
    if (n_shards == 1) {  // nothing to spread: no hash
      b->flow_shard[i] = 0;
      continue;
    }
    uint32_t h;
    if ((m->ol_flags & RTE_MBUF_F_RX_RSS_HASH) && !v.quoted.present && m->port < 64 &&
        (cfg_.symmetric_rss_ports >> m->port & 1))
      h = m->hash.rss;
    else if (v.ip_version)
      h = packet_flow_hash(v);
    else
      h = 0;
    b->flow_shard[i] = uint16_t(hash_to_shard(h, n_shards));
  }
  // The capture filter runs here, on the worker threads decoding the batch.
  b->n_captured = cfg_.capture && cfg_.capture->records_packets()
                      ? cfg_.capture->select(b->mbufs, b->n, b->capture)
                      : 0;
}

// emit stage (serial, in input order): alerts out in a stable order, mbufs
// back to their pool, the batch back to the free list.
void Pipeline::emit(Batch* b) noexcept {
  sort_scratch_.clear();
  const uint32_t slots = uint32_t(flow_.size() + host_.size());
  for (uint32_t s = 0; s < slots; ++s) {
    for (uint32_t k = 0; k < b->n_alerts[s]; ++k)
      sort_scratch_.push_back(&b->alerts[s][k]);
    for (Alert& a : b->spill[s])
      sort_scratch_.push_back(&a);
  }
  std::sort(sort_scratch_.begin(), sort_scratch_.end(), [](const Alert* x, const Alert* y) {
    return std::tie(x->ts, x->order, x->detector, x->update) <
           std::tie(y->ts, y->order, y->detector, y->update);
  });
  const auto registry = detector_registry();
  fused_.clear();
  const uint64_t offset = b->clock_end > b->max_ts ? b->clock_end - b->max_ts : 0;
  for (Alert* a : sort_scratch_) {
    // The alert's own time on the answer clock: incidents a batch holds
    // are decided at each alert's packet time, not only at the batch's end
    // (a batch of a sparse capture can span hours).
    const uint64_t at = std::min(a->ts + offset, b->clock_end);
    fusion_->advance(at, fused_);
    // An incident's capture starts with the alert that opens it; the
    // alerts folded into it or updating it name the same file.
    if (cfg_.capture && (!cfg_.fusion.enabled || !fusion_->joins(*a))) {
      const DetectorDescriptor& d = *registry[a->detector];
      IncidentRef ref;
      ref.detector = a->detector;
      ref.detector_id = d.id;
      ref.first_ts = a->first_ts;
      ref.alert_ts = a->ts;
      ref.subject = d.incident_is_victim ? a->dst : a->src;
      // A victim's incident is one per victim; a source's may be one per
      // target (vertical-scan), and the alert's first target stays put.
      if (!d.incident_is_victim) ref.peer = a->dst;
      ref.first_alert = cfg_.fusion.enabled || a->update == 0;
      a->capture_id = cfg_.capture->on_alert(ref);
    }
    fusion_->add(*a, at, fused_);
  }
  if (b->end_of_input)
    fusion_->flush(fused_);
  else
    fusion_->advance(b->clock_end, fused_);
  for (const Alert& r : fused_) {
    if (!alerts_->push(r, cfg_.lossless)) {
      if (r.disposition != AlertDisposition::kClosed)
        counters_.alerts_dropped.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    if (r.disposition == AlertDisposition::kAlert) {
      counters_.alerts.fetch_add(1, std::memory_order_relaxed);
      if (r.detector < kMaxDetectors)
        counters_.by_detector[r.detector].fetch_add(1, std::memory_order_relaxed);
    } else if (r.disposition == AlertDisposition::kFolded) {
      counters_.alerts_folded.fetch_add(1, std::memory_order_relaxed);
    }
  }
  const FusionCounters& fc = fusion_->counters();
  counters_.incidents.store(fc.incidents, std::memory_order_relaxed);
  counters_.takeovers.store(fc.takeovers, std::memory_order_relaxed);
  counters_.fold_updates.store(fc.fold_updates, std::memory_order_relaxed);
  counters_.fusion_evicted.store(fc.evicted, std::memory_order_relaxed);
  counters_.unfused.store(fc.unfused, std::memory_order_relaxed);
  counters_.incidents_open.store(fusion_->open_incidents(), std::memory_order_relaxed);
  counters_.incidents_held.store(fusion_->held_incidents(), std::memory_order_relaxed);
  for (uint32_t s = 0; s < slots; ++s)
    if (!b->spill[s].empty()) b->spill[s].clear();
  // Recording in input order, from the one emit thread (the writer's queue
  // has a single producer).
  if (b->n_captured) counters_.capture_kept.fetch_add(b->n_captured, std::memory_order_relaxed);
  if (cfg_.capture && cfg_.capture->records_packets()) cfg_.capture->record(tap_view(*b));
  if (cfg_.events) {
    const HostEvent* lists[64];
    for (size_t s = 0; s < flow_.size(); ++s)
      lists[s] = b->events[s];
    cfg_.events->on_batch(
        {lists, b->n_events, b->outcomes, uint32_t(flow_.size()), b->max_ts, b->end_of_input});
  }
  if (b->n) rte_pktmbuf_free_bulk(b->mbufs, b->n);
  counters_.batches.fetch_add(1, std::memory_order_relaxed);
  counters_.packets.fetch_add(b->n, std::memory_order_relaxed);
  in_effect_.store(b->snap->generation, std::memory_order_release);
}

void Pipeline::run() {
  // More shards than cores is allowed (tests run 4 workers on 2 cores); TBB
  // would otherwise cap its thread pool at the core count.
  oneapi::tbb::global_control allow(oneapi::tbb::global_control::max_allowed_parallelism,
                                    size_t(cfg_.workers) + 1);
  oneapi::tbb::task_arena::constraints c;
  if (cfg_.numa_node >= 0) c.set_numa_id(cfg_.numa_node);
  // One thread per shard pair plus rx; more would only contend for the same shards.
  c.set_max_concurrency(int(cfg_.workers) + 1);
  oneapi::tbb::task_arena arena(c);
  arena.initialize();
  std::optional<EalThreadObserver> observer;
  if (cfg_.register_lcores) observer.emplace(arena);
  arena.execute([&] {
    Graph graph(*this);
    free_batches_.store(uint32_t(batches_.size()), std::memory_order_relaxed);
    for (Batch* b : batches_)
      graph.rx.try_put(b);
    graph.g.wait_for_all();
  });
}

PipelineCounters Pipeline::live_counters() const {
  PipelineCounters c;
  c.batches = counters_.batches.load(std::memory_order_relaxed);
  c.packets = counters_.packets.load(std::memory_order_relaxed);
  c.alerts = counters_.alerts.load(std::memory_order_relaxed);
  c.alerts_folded = counters_.alerts_folded.load(std::memory_order_relaxed);
  c.alerts_dropped = counters_.alerts_dropped.load(std::memory_order_relaxed);
  c.fusion.incidents = counters_.incidents.load(std::memory_order_relaxed);
  c.fusion.folded = c.alerts_folded;
  c.fusion.takeovers = counters_.takeovers.load(std::memory_order_relaxed);
  c.fusion.fold_updates = counters_.fold_updates.load(std::memory_order_relaxed);
  c.fusion.evicted = counters_.fusion_evicted.load(std::memory_order_relaxed);
  c.fusion.unfused = counters_.unfused.load(std::memory_order_relaxed);
  c.incidents_open = counters_.incidents_open.load(std::memory_order_relaxed);
  c.incidents_held = counters_.incidents_held.load(std::memory_order_relaxed);
  c.rx_waits = counters_.rx_waits.load(std::memory_order_relaxed);
  c.timelines_refused = counters_.timelines_refused.load(std::memory_order_relaxed);
  c.capture_kept = counters_.capture_kept.load(std::memory_order_relaxed);
  return c;
}

std::vector<PegValues> Pipeline::detector_pegs() const {
  std::vector<PegValues> out;
  std::vector<int> at(pegs_.size(), -1);
  for (size_t i = 0; i < pegs_.size(); ++i) {
    if (pegs_[i].second.empty()) continue;
    at[i] = int(out.size());
    out.push_back(
        {pegs_[i].first, pegs_[i].second, std::vector<uint64_t>(pegs_[i].second.size(), 0)});
  }
  auto add = [&](const std::vector<AttachedDetector>& attached) {
    for (const AttachedDetector& a : attached)
      if (a.state && a.index < at.size() && at[a.index] >= 0)
        a.state->add_pegs(out[size_t(at[a.index])].values.data());
  };
  for (const auto& f : flow_)
    add(f->attached());
  for (const auto& h : host_)
    add(h->attached());
  return out;
}

EngineTotals Pipeline::totals() const {
  EngineTotals t;
  t.emit = live_counters();
  for (const auto& s : flow_) {
    const FlowShardSnapshot f = s->snapshot();
    t.flow += f.shard;
    t.table += f.table;
    t.flows_in_table += f.flows;
    t.flow_capacity += f.flow_capacity;
  }
  for (const auto& s : host_)
    t.host += s->snapshot();
  return t;
}

}  // namespace harrier
