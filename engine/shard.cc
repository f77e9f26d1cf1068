#include "engine/shard.h"

#include <rte_mbuf.h>

#include <algorithm>

namespace harrier {

namespace {
bool attach(const RuntimeSnapshot& snap, bool host_stage, int socket, uint32_t shard,
            uint32_t n_shards, std::vector<AttachedDetector>& out, std::string* error) {
  for (size_t i = 0; i < snap.detectors.size(); ++i) {
    const Detector* d = snap.detectors[i];
    if (!d) continue;
    // Host-behaviour detectors have a half on each stage: on_packets on the
    // flow shards (raising their events), on_events/on_tick on the host shards.
    const bool is_host = d->descriptor().kind == DetectorKind::kHostBehaviour;
    if (host_stage && !is_host) continue;
    AttachedDetector a;
    a.index = uint16_t(i);
    error->clear();
    a.state = host_stage || !is_host ? d->make_state(socket, shard, n_shards, error)
                                     : d->make_flow_state(socket, shard, error);
    if (!error->empty()) return false;
    out.push_back(std::move(a));
  }
  return true;
}
}  // namespace

bool FlowShard::init(uint32_t flow_capacity, const FlowTimeouts& timeouts,
                     const RuntimeSnapshot& snap, std::string* error) {
  // rte_hash names are global within the process; the pointer keeps them
  // unique when several pipelines (tests) live side by side.
  const std::string name = "flows" + std::to_string(id_) + "_" +
                           std::to_string(reinterpret_cast<uintptr_t>(this) & 0xFFFFFF);
  flows_ = FlowTable::create(name, flow_capacity, socket_, timeouts, error);
  if (!flows_) return false;
  return attach(snap, false, socket_, id_, 0, detectors_, error);
}

bool HostShard::init(const RuntimeSnapshot& snap, std::string* error) {
  return attach(snap, true, socket_, id_, n_flow_shards_, detectors_, error);
}

// The TCP/UDP state machine: who opened the flow, how far the handshake got,
// and the initiator's SYN history (same ISN resent = retry; new ISN = new try).
void FlowShard::update_flow(PacketCtx& c, FlowEntry& f, bool src_is_lo) noexcept {
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
// it to that flow's shard). An unreachable answering a probe is a failed attempt.
void FlowShard::on_icmp_error(EventSink& events, PacketCtx& c) noexcept {
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
  if (!rt_.home->contains(v.quoted.dst)) return;
  HostEvent e;
  e.ts = c.ts;
  e.order = c.order;
  e.src = v.quoted.src;
  e.dst = v.quoted.dst;
  e.sport = v.quoted.sport;
  e.dport = v.quoted.dport;
  e.proto = v.quoted.ip_proto;
  e.kind = HostEventKind::kFailed;
  events.emit(e, e.src);
}

void FlowShard::process(Batch& b) noexcept {
  rt_ = b.snap->rt;
  b.n_events[id_] = 0;
  AlertSink sink(b.alerts[id_], b.alert_cap, &b.spill[id_], b.spill_limit);
  EventSink events(b.events[id_], &b.n_events[id_], b.event_cap, n_host_shards_);
  ShardCtx ctx{id_, socket_, rt_, &sink, &events};

  // 1. Gather this shard's packets and build their flow keys.
  uint32_t m = 0, nk = 0;
  for (uint32_t i = 0; i < b.n; ++i) {
    if (b.flow_shard[i] != id_) continue;
    PacketCtx& c = pkts_[m];
    c = PacketCtx{};
    c.v = &b.views[i];
    c.ts = b.ts[i];
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
      const bool is_new = created[j] || flows_->refresh(&f, c.ts);
      if (is_new) {
        (src_is_lo ? f.lo_home : f.hi_home) = rt_.home->contains(c.v->src);
        (src_is_lo ? f.hi_home : f.lo_home) = rt_.home->contains(c.v->dst);
      }
      c.src_home = src_is_lo ? f.lo_home : f.hi_home;
      c.dst_home = src_is_lo ? f.hi_home : f.lo_home;
      c.flow = &f;
      c.flow_created = is_new;
      const bool replied_before = f.responder_replied;
      update_flow(c, f, src_is_lo);

      // Connection attempts toward home hosts, and how the target answered.
      const PacketView& v = *c.v;
      const bool is_tcp = v.proto == L4Proto::kTcp;
      if (!(is_tcp || v.proto == L4Proto::kUdp)) continue;
      HostEvent e;
      e.ts = c.ts;
      e.order = c.order;
      e.proto = v.ip_proto;
      if (c.flow_created && c.from_initiator && c.dst_home &&
          !(is_tcp && (v.tcp_flags & tcp_flag::kRst))) {
        e.kind = HostEventKind::kProbe;
        e.src = v.src, e.dst = v.dst, e.sport = v.sport, e.dport = v.dport;
        e.tcp_flags = v.tcp_flags;
        if (!rt_.inventory->serves(v.dst, v.ip_proto, v.dport))
          e.flags |= host_event_flag::kUnexpected;
        if (c.src_home) e.flags |= host_event_flag::kSrcHome;
        e.ttl = v.ttl;
        e.ip_id = v.ip_id;
      } else if (!c.from_initiator && !replied_before && f.pkts[0] > 0 && c.src_home) {
        e.kind = is_tcp && (v.tcp_flags & tcp_flag::kRst) ? HostEventKind::kFailed
                                                          : HostEventKind::kAnswered;
        e.src = v.dst, e.dst = v.src, e.sport = v.dport, e.dport = v.sport;
      } else {
        continue;
      }
      events.emit(e, e.src);
    }
  }
  for (uint32_t i = 0; i < m; ++i)
    if (pkts_[i].decoded && pkts_[i].v->quoted.present) on_icmp_error(events, pkts_[i]);

  // 3. Detectors, one call per burst each.
  const std::span<const PacketCtx> span(pkts_.data(), m);
  for (AttachedDetector& d : detectors_)
    if (b.snap->runs(d.index)) b.snap->detectors[d.index]->on_packets(ctx, span, d.state.get());

  // Events were raised in stages (connections, ICMP errors, each detector);
  // the host shards merge on packet order, so put them back in it.
  HostEvent* ev = b.events[id_];
  const uint32_t n_ev = b.n_events[id_];
  auto before = [](const HostEvent& x, const HostEvent& y) {
    return x.order != y.order ? x.order < y.order : x.seq < y.seq;
  };
  if (!std::is_sorted(ev, ev + n_ev, before)) std::sort(ev, ev + n_ev, before);

  // 4. Idle flows leave a little at a time, so no burst pays for a mass expiry.
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
  // Merge this shard's events from every flow shard back into packet order.
  uint32_t head[64] = {};
  uint32_t k = 0;
  const uint32_t cap = uint32_t(merged_.size());
  for (;;) {
    int best = -1;
    uint64_t best_order = UINT64_MAX;
    for (uint32_t s = 0; s < n_flow_shards_; ++s) {
      while (head[s] < b.n_events[s] && b.events[s][head[s]].host_shard != id_)
        ++head[s];
      if (head[s] < b.n_events[s] && b.events[s][head[s]].order < best_order) {
        best = int(s);
        best_order = b.events[s][head[s]].order;
      }
    }
    if (best < 0 || k == cap) break;
    merged_[k++] = b.events[best][head[best]++];
  }
  counters_.events += k;

  const uint32_t slot = n_flow_shards_ + id_;
  AlertSink sink(b.alerts[slot], b.alert_cap, &b.spill[slot], b.spill_limit);
  ShardCtx ctx{id_, socket_, b.snap->rt, &sink};
  const std::span<const HostEvent> span(merged_.data(), k);
  const uint64_t now = b.end_of_input ? UINT64_MAX : b.max_ts;
  for (AttachedDetector& d : detectors_) {
    if (!b.snap->runs(d.index)) continue;
    const Detector* det = b.snap->detectors[d.index];
    if (k) det->on_events(ctx, span, d.state.get());
    if (now) det->on_tick(ctx, now, d.state.get());
  }
  b.n_alerts[slot] = sink.in_slots();
  counters_.alerts_spilled += sink.spilled();
  counters_.alerts += sink.size();
  counters_.alerts_dropped += sink.dropped();
  published_.publish(counters_);
}

}  // namespace harrier
