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

#include "detectors/incident_detector.h"

namespace harrier::icmp_backscatter {

enum class Which : uint8_t { kUnreachable, kTimeExceeded };

inline constexpr ParamSpec kParams[] = {
    max_updates_param(4, "update alerts per incident (when the number of errors doubles)"),
    hold_down_param(3600, 604800, "seconds of silence after which a victim starts anew"),
    table_size_param(16384, "victims remembered, all shards together"),
};

struct Entry : KitEntry {
  uint32_t errors;
  uint32_t routers;  // distinct ICMP senders, as far as the short list tells
  IpAddr router_list[4];
  uint8_t icmp_type, icmp_code, inner_proto, inner_ttl;
  uint16_t inner_sport, inner_dport;
  uint16_t outer_ttl;
  TargetList<16> quoted_dsts;
};

// What an event carries from the flow stage: the error's ICMP type and its IP TTL.
struct EventDetail {
  IpAddr quoted_dst;  // where the spoofed packet the error quotes was going
  uint8_t icmp_type;
  uint8_t outer_ttl;
};

// What an alert carries beyond the shared fields.
struct Detail {
  uint32_t errors;
  uint32_t routers;  // distinct ICMP senders
  uint8_t icmp_type, icmp_code;
  uint16_t outer_ttl;  // of the first error
};

class Detector final : public IncidentDetector<Detector, Entry> {
 public:
  Detector(const DetectorDescriptor& d, const DetectorConfig& c, Which which)
      : IncidentDetector(d, c, which == Which::kUnreachable ? "icmpu" : "icmpt"), which_(which) {}

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
      HostEvent e = own_event(p);  // from the router to the victim
      e.sport = v.quoted.sport, e.dport = v.quoted.dport;
      e.proto = v.quoted.ip_proto;
      e.ttl = v.quoted.ttl;
      e.code = v.icmp_code;
      e.detail.put(EventDetail{v.quoted.dst, v.icmp_type, v.ttl});
      ctx.events->emit(e, e.dst);
    }
  }

  void on_events(ShardCtx& ctx, EventSelection events,
                 harrier::DetectorState* st) const noexcept override {
    State& s = state(st);
    for (const HostEvent& ev : events) {
      bool fresh;
      Entry* e = incident(ctx, s, PairKey::make(ev.dst, nullptr, 0, 0), ev.ts, ev.order, &fresh);
      if (!e) continue;
      const EventDetail d = ev.detail.get<EventDetail>();
      if (fresh) {
        e->icmp_type = d.icmp_type, e->icmp_code = ev.code;
        e->inner_proto = ev.proto, e->inner_ttl = ev.ttl;
        e->inner_sport = ev.sport, e->inner_dport = ev.dport;
        e->outer_ttl = d.outer_ttl;
      }
      ++e->errors;
      bool known = false;
      for (uint32_t i = 0; i < std::min<uint32_t>(e->routers, 4); ++i)
        known = known || e->router_list[i] == ev.src;
      if (!known) {
        if (e->routers < 4) e->router_list[e->routers] = ev.src;
        ++e->routers;
      }
      e->quoted_dsts.add(d.quoted_dst, ev.ts);
      grew(ctx, s, *e, true, ev.ts, ev.order);
    }
  }

  uint32_t amount(const Entry& e) const noexcept { return e.errors; }

  // src: the router that sent the first error; dst: the victim. The quoted
  // tuple (victim:sport -> quoted destination:dport) is the evidence.
  void fill(ShardCtx& ctx, Alert* a, const Entry& e) const noexcept {
    a->proto = e.inner_proto;
    a->src = e.router_list[0];
    a->dst = e.key.first();
    a->sport = e.inner_sport, a->dport = e.inner_dport;
    a->score = ctx.score(a->dst, e.inner_proto, e.inner_sport, cfg_.lethality);
    a->detail.put(Detail{e.errors, e.routers, e.icmp_type, e.icmp_code, e.outer_ttl});
    a->ttl = e.inner_ttl;
    e.quoted_dsts.fill(*a);
  }

 private:
  bool matches(const PacketView& v) const noexcept {
    const bool v4 = v.proto == L4Proto::kIcmp, v6 = v.proto == L4Proto::kIcmp6;
    if (which_ == Which::kUnreachable) return (v4 && v.icmp_type == 3) || (v6 && v.icmp_type == 1);
    return (v4 && v.icmp_type == 11) || (v6 && v.icmp_type == 3);
  }

  Which which_;
};

// Shared renderer; `what` names the error ("unreachable", "time exceeded").
void render(const Alert& a, AlertText& t, const char* what);

}  // namespace harrier::icmp_backscatter
