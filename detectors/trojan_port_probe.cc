// trojan-port-probe (seed detect 3): inbound attempts on ports where known
// backdoors and trojans listen (NetBus 12345-12346/tcp, Back Orifice
// 31337/udp, SubSeven 1243, 6776, 27374/tcp, ...). The alert says when the
// protocol does not match the trojan's: the seed's "false NetBus" was UDP to
// 12345, and NetBus only ever spoke TCP.
//
// Only the packet that opens a conversation counts: a TCP SYN, or the first
// UDP datagram of a flow, from the side that started it. So the same number
// used as the ephemeral port of a home host's own connection (replies arrive
// at home port 12345) never fires; nor does a port the inventory lists as
// served on that host.
//
// Host-behaviour: one incident per (source, port), so a sweep of 500 hosts on
// 12345 is one alert listing its targets.
#include <cstring>

#include "detectors/incident_detector.h"

namespace harrier {
namespace {

constexpr ParamSpec kParams[] = {
    {"ports", ParamType::kPortList, 1, 255, 0,
     "backdoor ports as \"PORT/PROTO NAME\" (PROTO: the one the backdoor really uses); "
     "replaces the built-in list of 19"},
    max_updates_param(4, "update alerts per incident (when the number of targets doubles)"),
    hold_down_param(86400, 604800, "seconds of silence after which a source and port start anew"),
    table_size_param(16384, "(source, port) incidents remembered, all shards together"),
};

struct Trojan {
  uint16_t port;
  uint8_t proto;  // the protocol the trojan really uses
  const char* name;
};

// The name travels in the alert (Detail::name, truncated to this many bytes)
// so the renderer needs no access to the configured list.
constexpr size_t kNameBytes = 63;

// Well-documented backdoor ports (SANS/CERT lists of the era; still scanned).
constexpr Trojan kTrojans[] = {
    {1243, 6, "SubSeven"},
    {1524, 6, "ingreslock backdoor"},
    {2140, 17, "Deep Throat"},
    {3150, 17, "Deep Throat"},
    {6711, 6, "SubSeven"},
    {6776, 6, "SubSeven"},
    {12345, 6, "NetBus"},
    {12346, 6, "NetBus"},
    {16959, 6, "SubSeven"},
    {20034, 6, "NetBus 2 Pro"},
    {27374, 6, "SubSeven"},
    {27444, 17, "Trin00 daemon"},
    {27665, 6, "Trin00 master"},
    {31335, 17, "Trin00 master"},
    {31337, 17, "Back Orifice"},
    {31338, 17, "Deep Back Orifice"},
    {54320, 6, "Back Orifice 2000"},
    {54321, 17, "Back Orifice 2000"},
    {65000, 6, "Devil"},
};

struct Entry : KitEntry {
  uint32_t packets;
  uint16_t first_sport;
  uint16_t tcp_flags;
  uint8_t ttl;
  uint16_t ip_id;
  uint32_t payload_len;
  TargetList<16> targets;
  uint8_t trojan;  // index into the detector's list
};

// What an event carries from the flow stage.
struct EventDetail {
  uint32_t payload_len;
};

// What an alert carries beyond the shared fields.
struct Detail {
  uint32_t packets;
  uint32_t payload_len;  // of the first probe
  uint8_t trojan_proto;  // the protocol the trojan really uses
  char name[kNameBytes + 1];
};

class TrojanPortProbe final : public IncidentDetector<TrojanPortProbe, Entry> {
 public:
  TrojanPortProbe(const DetectorDescriptor& d, const DetectorConfig& c)
      : IncidentDetector(d, c, "troj"), by_port_(65536, 0) {
    if (const auto* list = c.port_list("ports")) {
      for (const PortLabel& p : *list)
        trojans_.push_back({p.port, p.proto, p.label});
    } else {
      for (const Trojan& t : kTrojans)
        trojans_.push_back({t.port, t.proto, t.name});
    }
    // Index + 1 per port; the first listing of a port wins.
    for (size_t i = trojans_.size(); i-- > 0;)
      by_port_[trojans_[i].port] = uint8_t(i + 1);
  }

  PacketInterest packet_interest() const override {
    PacketInterest in;  // the first packet of a conversation with a trojan's port
    in.classes = class_bit(PacketClass::kTcp) | class_bit(PacketClass::kUdp);
    in.all_facts = packet_fact::kDstHome | packet_fact::kFromInitiator | packet_fact::kFlowCreated;
    in.tcp_flags = [](uint16_t f) {
      return (f & (tcp_flag::kSyn | tcp_flag::kAck | tcp_flag::kRst)) == tcp_flag::kSyn;
    };
    for (const Listed& t : trojans_)
      in.ports.push_back(t.port);
    return in;
  }

  void on_packets(ShardCtx& ctx, PacketSelection pkts, DetectorState*) const noexcept override {
    for (const PacketCtx& p : pkts) {
      if (!p.decoded || !p.flow_created || !p.from_initiator || !p.dst_home) continue;
      const PacketView& v = *p.v;
      if (!v.has_ports()) continue;
      // A conversation opened by a SYN; anything else first seen mid-flow
      // cannot tell us who opened it.
      if (v.proto == L4Proto::kTcp &&
          (v.tcp_flags & (tcp_flag::kSyn | tcp_flag::kAck | tcp_flag::kRst)) != tcp_flag::kSyn)
        continue;
      const int t = int(by_port_[v.dport]) - 1;
      if (t < 0 || ctx.rt.inventory->serves(v.dst, v.ip_proto, v.dport)) continue;
      HostEvent e = own_event(p);
      e.code = uint8_t(t);
      e.detail.put(EventDetail{v.payload_len});
      ctx.events->emit(e, e.src);
    }
  }

  void on_events(ShardCtx& ctx, EventSelection events, DetectorState* st) const noexcept override {
    State& s = state(st);
    for (const HostEvent& ev : events) {
      // Which trojan, from this process's own list: the event may come from
      // another process (a correlator's streams), whose index means nothing here.
      const int t = int(by_port_[ev.dport]) - 1;
      if (t < 0) continue;
      bool fresh;
      Entry* e = incident(ctx, s, PairKey::make(ev.src, nullptr, ev.proto, ev.dport), ev.ts,
                          ev.order, &fresh);
      if (!e) continue;
      if (fresh) {
        e->first_sport = ev.sport;
        e->tcp_flags = ev.tcp_flags, e->ttl = ev.ttl, e->ip_id = ev.ip_id;
        e->payload_len = ev.detail.get<EventDetail>().payload_len;
        e->trojan = uint8_t(t);
      }
      ++e->packets;
      e->targets.add(ev.dst, ev.ts);
      grew(ctx, s, *e, true, ev.ts, ev.order);
    }
  }

  uint32_t amount(const Entry& e) const noexcept { return e.targets.total; }

  void fill(ShardCtx& ctx, Alert* a, const Entry& e) const noexcept {
    a->proto = e.key.proto;
    a->dst = e.targets.addr[0];
    a->sport = e.first_sport, a->dport = e.key.port;
    a->score = ctx.score(a->dst, e.key.proto, e.key.port, cfg_.lethality);
    const Listed& tr = trojans_[e.trojan];
    Detail d{e.packets, e.payload_len, tr.proto, {}};
    std::memcpy(d.name, tr.name.data(), std::min(tr.name.size(), kNameBytes));
    a->detail.put(d);
    a->tcp_flags = e.tcp_flags, a->ttl = e.ttl, a->ip_id = e.ip_id;
    e.targets.fill(*a);
    // One empty probe of one host is a scan's touch when its source is
    // scanning; a sweep of the port, or a probe with content, is its own.
    a->bare_probe = e.payload_len == 0 && e.targets.total == 1;
  }

 private:
  struct Listed {
    uint16_t port;
    uint8_t proto;
    std::string name;
  };

  std::vector<Listed> trojans_;
  std::vector<uint8_t> by_port_;
};

void render(const Alert& a, AlertText& t) {
  const Detail d = a.detail.get<Detail>();
  const std::string name(d.name, strnlen(d.name, kNameBytes));
  const uint8_t trojan_proto = d.trojan_proto;
  const bool mismatch = trojan_proto != a.proto;
  t.signature =
      "Trojan port probe: " + proto_name(a.proto) + "/" + std::to_string(a.dport) + " (" + name +
      ") on " + (a.n_targets == 1 ? ip_to_string(a.dst) : format_count(a.n_targets) + " hosts") +
      (mismatch ? "; " + name + " uses " + proto_name(trojan_proto) + ", not " + proto_name(a.proto)
                : "") +
      update_suffix(a);
  t.touched = std::to_string(a.dport) + "/" + proto_name(a.proto) + " " + name;
  auto& e = t.evidence;
  e["trojan"] = name;
  e["trojan_proto"] = proto_name(trojan_proto);
  e["proto"] = proto_name(a.proto);
  e["protocol_matches_trojan"] = !mismatch;
  e["packets"] = d.packets;
  e["first_payload_bytes"] = d.payload_len;
  if (a.proto == 6) e["tcp_flags"] = format_tcp_flags(a.tcp_flags);
  e["ttl"] = a.ttl;
  e["ip_id"] = a.ip_id;
  e["first_seen"] = eve_timestamp(a.first_ts);
  e["last_seen"] = eve_timestamp(a.last_ts);
  e["targets"] = listed_targets(a);
  e["targets_total"] = a.n_targets;
  e["update"] = a.update;
}

}  // namespace

extern const DetectorDescriptor kTrojanPortProbe = {
    "trojan-port-probe",
    1000003,
    DetectorKind::kHostBehaviour,
    "Misc activity",
    "Inbound attempts on ports where known backdoors and trojans listen",
    5,
    kParams,
    make_detector<TrojanPortProbe>,
    render,
    {"A prober looks for hosts already compromised: a backdoor listening on its known port "
     "answers, and the attacker walks in without exploiting anything. A protocol that does not "
     "match the trojan's (UDP to NetBus's TCP port) means either a variant, a filter-evasion "
     "attempt against rules keyed on the port number alone, or an unrelated service.",
     "Unlikely: a probe for a listening backdoor needs the answer to come back.",
     "Block unsolicited inbound traffic to everything but the services you publish (a stateful "
     "firewall does), and check the targeted host for the named trojan if it answered."},
    /*incident_is_victim=*/false,
    fusion_rank::kProbeKind};

}  // namespace harrier
