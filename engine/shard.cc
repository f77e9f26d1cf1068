#include "engine/shard.h"

#include <rte_mbuf.h>

#include <algorithm>
#include <cstring>

namespace harrier {


bool FlowShard::init(uint32_t flow_capacity, const FlowTimeouts& timeouts,
                     const RuntimeSnapshot& snap, std::string* error) {
  flows_ = FlowTable::create(flow_capacity, socket_, timeouts, error);
  if (!flows_) return false;
  if (!attach_detectors(snap, false, socket_, id_, 0, detectors_, error)) return false;
  // A snapshot's dispatch names detectors by registry index; the ones
  // attached here are the only ones a later snapshot can run.
  for (size_t k = 0; k < detectors_.size(); ++k) {
    const uint16_t i = detectors_[k].index;
    if (i >= PacketDispatch::kMaxDetectors) {
      *error = "flow shard: detector " + std::to_string(i) + " is beyond the packet dispatch's " +
               std::to_string(PacketDispatch::kMaxDetectors);
      return false;
    }
    attached_ |= 1u << i;
    slot_of_[i] = uint8_t(k);
    picked_[i].resize(pkts_.size());
  }
  return true;
}

bool HostShard::init(const RuntimeSnapshot& snap, std::string* error) {
  return stage_.init(snap, socket_, id_, n_flow_shards_, uint32_t(merged_.capacity()), error);
}

// The TCP/UDP state machine: who opened the flow, how far the handshake got,
// and the initiator's SYN history (same ISN resent = retry; new ISN = new try).
inline void FlowShard::update_flow(PacketCtx& c, FlowEntry& f, bool src_is_lo) noexcept {
  const PacketView& v = *c.v;
  const uint16_t fl = v.tcp_flags;
  const bool syn = fl & tcp_flag::kSyn, ack = fl & tcp_flag::kAck, rst = fl & tcp_flag::kRst;
  const bool is_tcp = v.proto == L4Proto::kTcp && !v.is_later_fragment;
  if (c.flow_created) {
    // A SYN-ACK as first packet means we missed the SYN: the receiver opened.
    f.initiator_is_lo = (is_tcp && syn && ack) ? !src_is_lo : src_is_lo;
    if (is_tcp) {
      f.tcp_state = syn && !ack  ? TcpState::kSynSent
                    : syn && ack ? TcpState::kSynReceived
                    : rst        ? TcpState::kReset
                                 : TcpState::kMidstream;
    }
  }
  c.from_initiator = src_is_lo == f.initiator_is_lo;
  const int dir = c.from_initiator ? 0 : 1;
  ++f.pkts[dir];
  f.bytes[dir] += v.wire_len;
  if (!c.from_initiator) f.responder_replied = 1;
  if (!is_tcp) return;

  if (rst) {
    f.tcp_state = TcpState::kReset;
  } else if (syn && !ack && c.from_initiator) {
    if (f.syn_count == 0 || v.tcp_seq != f.syn_isn) {
      if (f.syn_count != 0) ++f.syn_isn_changes;
      f.syn_isn = v.tcp_seq;
      f.syn_count = 1;
      f.first_syn_ts = f.last_syn_ts = c.ts;
      f.syn_gap_count = 0;
      f.tcp_state = TcpState::kSynSent;
      f.responder_replied = 0;
    } else {
      if (f.syn_gap_count < FlowEntry::kMaxSynGaps) {
        const uint64_t gap = c.ts > f.last_syn_ts ? c.ts - f.last_syn_ts : 0;
        f.syn_gaps_ms[f.syn_gap_count++] = uint32_t(gap / 1'000'000ull);
      }
      if (f.syn_count < UINT16_MAX) ++f.syn_count;
      f.last_syn_ts = c.ts;
    }
    c.syn_index = f.syn_count;
  } else if (syn && ack && !c.from_initiator) {
    if (f.tcp_state == TcpState::kSynSent) f.tcp_state = TcpState::kSynReceived;
  } else if (fl & tcp_flag::kFin) {
    f.tcp_state = TcpState::kClosing;
  } else if (ack && c.from_initiator && f.tcp_state == TcpState::kSynReceived) {
    f.tcp_state = TcpState::kEstablished;
  }
}

// An ICMP error belongs to the flow it quotes (the decode stage already sent
// it to that flow's shard). An unreachable answering an attempt refuses it.
void FlowShard::on_icmp_error(PacketCtx& c, uint64_t clock) noexcept {
  const PacketView& v = *c.v;
  ++counters_.icmp_errors;
  FlowKey k;
  const bool quoted_src_is_lo = quoted_flow_key(v.quoted, k);
  FlowEntry* f = flows_->find(k, c.ts);
  if (f == nullptr) {
    ++counters_.icmp_errors_unmatched;
    return;
  }
  c.flow = f;
  const bool unreachable = (v.proto == L4Proto::kIcmp && v.icmp_type == 3) ||
                           (v.proto == L4Proto::kIcmp6 && v.icmp_type == 1);
  const bool quote_from_initiator = quoted_src_is_lo == f->initiator_is_lo;
  if (!unreachable || !quote_from_initiator || f->responder_replied) return;
  f->responder_replied = 1;
  if (f->answer_by && clock <= f->answer_by && f->answer == FlowAnswer::kNone)
    f->answer = FlowAnswer::kRefused;
}

// An attempt whose grace ran out (or whose flow starts over): what became of
// it. A conversation (answered, and data flowed either way; any answered UDP)
// is nobody's business on the host stage and raises nothing.
void FlowShard::report_outcome(std::vector<HostEvent>& out, const FlowEntry& f) noexcept {
  HostEventKind kind;
  switch (f.answer) {
    case FlowAnswer::kNone:
      kind = HostEventKind::kUnanswered;
      break;
    case FlowAnswer::kRefused:
      kind = HostEventKind::kRefused;
      break;
    case FlowAnswer::kPositive:
    default:
      if (f.key.proto != 6 || f.data_seen) return;
      kind = HostEventKind::kOpen;
      break;
  }
  const FlowKey& k = f.key;
  const bool lo = f.initiator_is_lo;
  HostEvent e;
  e.kind = kind;
  e.ts = f.first_ts;
  e.order = f.probe_order;
  std::memcpy(e.src.bytes, lo ? k.addr_lo : k.addr_hi, 16);
  std::memcpy(e.dst.bytes, lo ? k.addr_hi : k.addr_lo, 16);
  e.src.family = e.dst.family = k.family;
  e.sport = lo ? k.port_lo : k.port_hi;
  e.dport = lo ? k.port_hi : k.port_lo;
  e.proto = k.proto;
  e.tcp_flags = f.probe_flags;
  e.ttl = f.probe_ttl;
  e.ip_id = f.probe_ip_id;
  if (f.probe_unexpected) e.flags |= host_event_flag::kUnexpected;
  if (lo ? f.lo_home : f.hi_home) e.flags |= host_event_flag::kSrcHome;
  e.key_slot = key_slot_of(e.src);
  out.push_back(e);
  ++counters_.outcomes;
}

void FlowShard::process(Batch& b) noexcept {
  rt_ = b.snap->rt;
  b.n_events[id_] = 0;
  AlertSink sink(b.alerts[id_], b.alert_cap, &b.spill[id_], b.spill_limit);
  EventSink events(b.events[id_], &b.n_events[id_], b.event_cap);
  ShardCtx ctx{id_, socket_, rt_, &sink, &events};
  std::vector<HostEvent>& outcomes = b.outcomes[id_];
  outcomes.clear();

  flows_->begin_batch();  // the flows found below stay put until the batch is done

  // 1. Gather this shard's packets and build their flow keys.
  uint32_t m = 0, nk = 0, n_icmp_errors = 0;
  for (uint32_t i = 0; i < b.n; ++i) {
    if (b.flow_shard[i] != id_) continue;
    PacketCtx& c = pkts_[m];
    c = PacketCtx{};
    c.v = &b.views[i];
    c.ts = b.ts[i];
    clock_[m] = b.clock[i];
    c.order = b.first_order + i;
    const auto err = DecodeError(b.decode_err[i]);
    ++counters_.packets;
    counters_.bytes += c.v->wire_len;
    if (err == DecodeError::kNotIp)
      ++counters_.non_ip;
    else if (err != DecodeError::kNone)
      ++counters_.decode_errors[size_t(err)];
    c.decoded = err == DecodeError::kNone;
    if (c.decoded && !c.v->quoted.present) {
      key_src_lo_[nk] = packet_flow_key(*c.v, keys_[m]);
      key_ptrs_[nk] = &keys_[m];
      key_ts_[nk] = c.ts;
      key_pkt_[nk] = m;
      ++nk;
    } else if (c.v->ip_version != 0) {
      // No flow to remember it in (ICMP errors, undecodable transport).
      c.src_home = rt_.home->contains(c.v->src);
      c.dst_home = rt_.home->contains(c.v->dst);
      if (c.decoded) icmp_errors_[n_icmp_errors++] = m;
    }
    ++m;
  }

  // 2. Look the flows up in bulk, then walk the packets in order.
  FlowEntry* found[FlowTable::kBurst];
  bool created[FlowTable::kBurst];
  for (uint32_t base = 0; base < nk; base += FlowTable::kBurst) {
    const uint32_t chunk = nk - base < FlowTable::kBurst ? nk - base : FlowTable::kBurst;
    flows_->lookup_or_insert(&key_ptrs_[base], &key_ts_[base], chunk, found, created);
    for (uint32_t j = 0; j < chunk; ++j) {
      PacketCtx& c = pkts_[key_pkt_[base + j]];
      const bool src_is_lo = key_src_lo_[base + j];
      if (found[j] == nullptr) {
        ++counters_.no_flow;
        c.src_home = rt_.home->contains(c.v->src);
        c.dst_home = rt_.home->contains(c.v->dst);
        continue;
      }
      FlowEntry& f = *found[j];
      // An idle flow that starts over must not take its attempt's outcome
      // with it (only timeouts shorter than the grace can get here).
      if (f.answer_by && !created[j] && flows_->is_expired(f, c.ts)) {
        flows_->stop_waiting(&f);
        report_outcome(outcomes, f);
      }
      const bool is_new = created[j] || flows_->refresh(&f, c.ts);
      if (is_new) {
        (src_is_lo ? f.lo_home : f.hi_home) = rt_.home->contains(c.v->src);
        (src_is_lo ? f.hi_home : f.lo_home) = rt_.home->contains(c.v->dst);
      }
      c.src_home = src_is_lo ? f.lo_home : f.hi_home;
      c.dst_home = src_is_lo ? f.hi_home : f.lo_home;
      c.flow = &f;
      c.flow_created = is_new;
      update_flow(c, f, src_is_lo);

      // Connection attempts toward home hosts wait for their answer; what
      // arrives within the grace is remembered on the flow (see report_outcome).
      const PacketView& v = *c.v;
      const bool is_tcp = v.proto == L4Proto::kTcp;
      if (!(is_tcp || v.proto == L4Proto::kUdp)) continue;
      const bool rst = is_tcp && (v.tcp_flags & tcp_flag::kRst);
      if (c.flow_created && c.from_initiator && c.dst_home && !rst) {
        f.probe_flags = v.tcp_flags;
        f.probe_ttl = v.ttl;
        f.probe_ip_id = v.ip_id;
        f.probe_unexpected = !rt_.inventory->serves(v.dst, v.ip_proto, v.dport);
        f.data_seen = v.payload_len > 0;  // a SYN with data, or a flow met mid-stream
        flows_->await_answer(&f, clock_[key_pkt_[base + j]], c.order);
      } else if (f.answer_by && clock_[key_pkt_[base + j]] <= f.answer_by) {
        if (!c.from_initiator && f.answer == FlowAnswer::kNone)
          f.answer = rst ? FlowAnswer::kRefused : FlowAnswer::kPositive;
        if (v.payload_len > 0) f.data_seen = true;
        // A conversation is final: off the list, nothing to report, and
        // free to be evicted like any other flow.
        if (f.answer == FlowAnswer::kPositive && (!is_tcp || f.data_seen)) flows_->stop_waiting(&f);
      }
    }
  }
  for (uint32_t k = 0; k < n_icmp_errors; ++k)
    on_icmp_error(pkts_[icmp_errors_[k]], clock_[icmp_errors_[k]]);

  // 3. Detectors: each gets the packets of its interest, one call per burst.
  const PacketDispatch& dispatch = b.snap->dispatch;
  uint32_t called = 0;
  for (uint32_t i = 0; i < m; ++i) {
    uint32_t wants = dispatch.wants(pkts_[i]) & attached_;
    called |= wants;
    for (; wants; wants &= wants - 1) {
      const uint32_t d = uint32_t(__builtin_ctz(wants));
      picked_[d][n_picked_[d]++] = uint16_t(i);
    }
  }
  const std::span<const PacketCtx> all(pkts_.data(), m);
  for (; called; called &= called - 1) {
    const uint32_t d = uint32_t(__builtin_ctz(called));
    AttachedDetector& a = detectors_[slot_of_[d]];
    b.snap->detectors[d]->on_packets(ctx, {all, {picked_[d].data(), n_picked_[d]}}, a.state.get());
    n_picked_[d] = 0;
  }

  // Events were raised in stages (connections, ICMP errors, each detector);
  // the host shards merge on packet order, so put them back in it.
  HostEvent* ev = b.events[id_];
  const uint32_t n_ev = b.n_events[id_];
  auto before = [](const HostEvent& x, const HostEvent& y) {
    return x.order != y.order ? x.order < y.order : x.seq < y.seq;
  };
  if (!std::is_sorted(ev, ev + n_ev, before)) std::sort(ev, ev + n_ev, before);

  // 4. Attempts whose grace ran out with this batch, oldest first. Their
  // deadline is on the answer clock, which every flow shard sees the same,
  // so which batch reports an outcome does not depend on the worker count.
  const uint64_t due = b.end_of_input ? UINT64_MAX : b.clock_end;
  if (due) {
    const uint32_t room =
        b.outcome_limit > outcomes.size() ? b.outcome_limit - uint32_t(outcomes.size()) : 0;
    const uint32_t taken =
        flows_->take_due(due, room, [&](FlowEntry& f) { report_outcome(outcomes, f); });
    if (taken == room && flows_->has_due(due)) ++counters_.outcomes_deferred;
  }
  auto by_order = [](const HostEvent& x, const HostEvent& y) { return x.order < y.order; };
  if (!std::is_sorted(outcomes.begin(), outcomes.end(), by_order))
    std::sort(outcomes.begin(), outcomes.end(), by_order);

  // 5. Idle flows leave a little at a time, so no burst pays for a mass expiry.
  if (b.max_ts) flows_->expire(b.max_ts, 64);

  b.n_alerts[id_] = sink.in_slots();
  counters_.alerts_spilled += sink.spilled();
  counters_.events += events.emitted();
  counters_.events_dropped += events.dropped();
  counters_.events_capped += events.capped();
  counters_.alerts += sink.size();
  counters_.alerts_dropped += sink.dropped();
  published_.publish({counters_, flows_->counters(), flows_->size(), flows_->capacity()});
}

void HostShard::process(Batch& b) noexcept {
  // Merge this shard's events from every flow shard back into packet order,
  // then the connection outcomes that came due, in attempt order.
  merged_.clear();
  merge(b.events, b.n_events);
  const size_t n_packet_events = merged_.size();
  HostEvent* outcome_lists[64];
  uint32_t outcome_counts[64];
  for (uint32_t s = 0; s < n_flow_shards_; ++s) {
    outcome_lists[s] = b.outcomes[s].data();
    outcome_counts[s] = uint32_t(b.outcomes[s].size());
  }
  merge(outcome_lists, outcome_counts);
  const uint32_t k = uint32_t(merged_.size());
  counters_.events += n_packet_events;
  counters_.outcomes += k - n_packet_events;

  const uint32_t slot = n_flow_shards_ + id_;
  AlertSink sink(b.alerts[slot], b.alert_cap, &b.spill[slot], b.spill_limit);
  ShardCtx ctx{id_, socket_, b.snap->rt, &sink};
  ctx.answer_grace_ns = answer_grace_ns_;
  if (input_start_ns_ == 0 && b.n > 0) {
    input_start_ns_ = b.ts[0];
    for (uint32_t i = 1; i < b.n; ++i)
      input_start_ns_ = std::min(input_start_ns_, b.ts[i]);
  }
  ctx.input_start_ns = input_start_ns_;
  stage_.run(*b.snap, ctx, {merged_.data(), k}, b.end_of_input ? UINT64_MAX : b.max_ts);
  b.n_alerts[slot] = sink.in_slots();
  counters_.alerts_spilled += sink.spilled();
  counters_.alerts += sink.size();
  counters_.alerts_dropped += sink.dropped();
  published_.publish(counters_);
}

// A k-way merge, on packet order, of the flow shards' lists of the events
// this shard owns (there are as many host shards as flow shards). Ties keep flow shard order, which is deterministic:
// events of one packet all come from one flow shard.
void HostShard::merge(HostEvent* const* lists, const uint32_t* counts) {
  uint32_t head[64] = {};
  for (;;) {
    int best = -1;
    uint64_t best_key = UINT64_MAX;
    for (uint32_t s = 0; s < n_flow_shards_; ++s) {
      while (head[s] < counts[s] && slot_owner(lists[s][head[s]].key_slot, n_flow_shards_) != id_)
        ++head[s];
      if (head[s] < counts[s] && (best < 0 || lists[s][head[s]].order < best_key)) {
        best = int(s);
        best_key = lists[s][head[s]].order;
      }
    }
    if (best < 0) break;
    merged_.push_back(lists[best][head[best]++]);
  }
}

}  // namespace harrier
