// The shared engine of icmp-unreach-backscatter and icmp-ttl-backscatter
// (seed detects 9 and 10): an ICMP error reaches a home host quoting a packet
// that host supposedly sent, yet the flow table holds no such flow. Someone
// used the home address as a spoofed source (a decoy in a scan, or the
// forged source of a flood) and the network's errors come back to it.
//
// Host-behaviour: the flow shard owning the quoted flow sees the error and
// finds no flow; the event goes to the host shard of the victim, which keeps
// one incident per victim, counting errors, the quoted destinations (the
// parties the spoofer really talked to) and the routers that answered.
#pragma once

#include <cstring>

#include "dataplane/bounded_table.h"
#include "detectors/detector.h"
#include "detectors/evidence.h"

namespace harrier::icmp_backscatter {

enum class Which : uint8_t { kUnreachable, kTimeExceeded };

inline constexpr ParamSpec kParams[] = {
    {"max_updates", ParamType::kCount, 0, 64, 4,
     "update alerts per incident (when the number of errors doubles)"},
    {"hold_down", ParamType::kSeconds, 1, 604800, 3600,
     "seconds of silence after which the same victim starts a new incident"},
    {"table_size", ParamType::kCount, 1024, 1 << 24, 16384,
     "victims remembered, all shards together"},
};

struct Entry : IncidentEntry {
  uint32_t errors;
  uint32_t routers;  // distinct ICMP senders, as far as the short list tells
  IpAddr router_list[4];
  uint8_t icmp_type, icmp_code, inner_proto, inner_ttl;
  uint16_t inner_sport, inner_dport;
  uint16_t outer_ttl;
  TargetList<16> quoted_dsts;
};
using Table = BoundedTable<PairKey, Entry>;

using State = TableState<Entry>;

class Detector final : public harrier::Detector {
 public:
  Detector(const DetectorDescriptor& d, const DetectorConfig& c, Which which)
      : harrier::Detector(d, c), which_(which), table_size_(uint32_t(c.get("table_size"))) {
    policy_ = IncidentPolicy::from_config(c);
  }

  std::unique_ptr<DetectorState> make_state(int socket, uint32_t shard, uint32_t n_shards,
                                            std::string* error) const override {
    auto s = std::make_unique<State>();
    s->table =
        make_table<PairKey, Entry>(desc_.id, which_ == Which::kUnreachable ? "icmpu" : "icmpt",
                                   table_size_, shard, n_shards, socket, s.get(), error);
    return s->table ? std::move(s) : nullptr;
  }

  PacketInterest packet_interest() const override {
    PacketInterest in;  // errors toward home hosts that quote them as the sender
    in.classes = class_bit(PacketClass::kIcmpError);
    in.all_facts = packet_fact::kDstHome;
    return in;
  }

  void on_packets(ShardCtx& ctx, PacketSelection pkts,
                  harrier::DetectorState*) const noexcept override {
    for (const PacketCtx& p : pkts) {
      if (!p.decoded || p.flow != nullptr || !p.dst_home) continue;
      const PacketView& v = *p.v;
      if (!v.quoted.present || !matches(v)) continue;
      // The quote must claim the home host as its sender: that is the lie.
      if (!(v.quoted.src == v.dst)) continue;
      HostEvent e;
      e.kind = HostEventKind::kDetector;
      e.detector = cfg_.index;
      e.ts = p.ts, e.order = p.order;
      e.src = v.src, e.dst = v.dst, e.peer = v.quoted.dst;
      e.sport = v.quoted.sport, e.dport = v.quoted.dport;
      e.proto = v.quoted.ip_proto;
      e.ttl = v.quoted.ttl;
      e.code = v.icmp_code;
      e.aux[0] = v.icmp_type;
      e.aux[1] = v.ttl;
      ctx.events->emit(e, e.dst);
    }
  }

  void on_events(ShardCtx& ctx, EventSelection events,
                 harrier::DetectorState* st) const noexcept override {
    Table& tab = *static_cast<State*>(st)->table;
    for (const HostEvent& ev : events) {
      bool created;
      Entry* e = tab.find_or_insert(PairKey::make(ev.dst, nullptr, 0, 0), ev.ts, &created);
      if (!e) continue;
      if (!created && policy_.starts_new(e->inc, ev.ts)) restart_entry(*e), created = true;
      if (e->errors == 0) {
        e->inc.first_ts = ev.ts;
        e->icmp_type = uint8_t(ev.aux[0]), e->icmp_code = ev.code;
        e->inner_proto = ev.proto, e->inner_ttl = ev.ttl;
        e->inner_sport = ev.sport, e->inner_dport = ev.dport;
        e->outer_ttl = uint16_t(ev.aux[1]);
      }
      e->inc.last_ts = ev.ts;
      ++e->errors;
      bool known = false;
      for (uint32_t i = 0; i < std::min<uint32_t>(e->routers, 4); ++i)
        known = known || e->router_list[i] == ev.src;
      if (!known) {
        if (e->routers < 4) e->router_list[e->routers] = ev.src;
        ++e->routers;
      }
      e->quoted_dsts.add(ev.peer, ev.ts);
      if (policy_.decide(e->inc, e->errors, true, ev.ts)) emit(ctx, *e, ev);
    }
  }

  void on_tick(ShardCtx&, uint64_t now, harrier::DetectorState* st) const noexcept override {
    if (now != UINT64_MAX) static_cast<State*>(st)->table->expire(now, policy_.hold_down_ns, 64);
  }

 private:
  bool matches(const PacketView& v) const noexcept {
    const bool v4 = v.proto == L4Proto::kIcmp, v6 = v.proto == L4Proto::kIcmp6;
    if (which_ == Which::kUnreachable) return (v4 && v.icmp_type == 3) || (v6 && v.icmp_type == 1);
    return (v4 && v.icmp_type == 11) || (v6 && v.icmp_type == 3);
  }

  void emit(ShardCtx& ctx, const Entry& e, const HostEvent& ev) const noexcept {
    Alert* a = ctx.alerts->next();
    if (!a) return;
    // src: the router that sent the first error; dst: the victim. The quoted
    // tuple (victim:sport -> quoted destination:dport) is the evidence.
    alert_header(*a, cfg_.index, ev.ts, ev.order, e.inner_proto, e.router_list[0], ev.dst,
                 e.inner_sport, e.inner_dport);
    a->first_ts = e.inc.first_ts, a->last_ts = e.inc.last_ts;
    a->update = policy_.update_number(e.inc);
    set_incident_key(*a, e.key, e.inc.first_ts);
    a->score = ctx.score(ev.dst, e.inner_proto, e.inner_sport, cfg_.lethality);
    a->count[0] = e.errors;
    a->count[1] = e.routers;
    a->count[2] = uint32_t(e.icmp_type) << 8 | e.icmp_code;
    a->count[3] = e.outer_ttl;
    a->ttl = e.inner_ttl;
    e.quoted_dsts.fill(*a);
  }

  Which which_;
  IncidentPolicy policy_;
  uint32_t table_size_;
};

// Shared renderer; `what` names the error ("unreachable", "time exceeded").
void render(const Alert& a, AlertText& t, const char* what);

}  // namespace harrier::icmp_backscatter
