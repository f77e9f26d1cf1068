// portmap-probe (seed detect 2): any packet from outside to the SunRPC
// portmapper of a home host. One incident per probing source, listing the
// hosts it probed (a sweep of 254 hosts is one incident), with what the
// analyst looked for next: whether the same source network (/24, or /48 for
// IPv6) probed on an earlier day, and from the same source port (the seed:
// 1023 from 207.8.127.x on two days).
//
// Does not fire on internal RPC traffic the inventory allows: a home source
// talking to a host that lists the portmapper as a served service.
//
// Host-behaviour: the flow shard sees each probing conversation's first
// packet and sends it, keyed by the source network, to the host shard that
// remembers that network's probes; the source's incident lives there too.
#include <cstdio>

#include "detectors/incident_detector.h"
#include "detectors/protocols/rpc.h"

namespace harrier {
namespace {

constexpr ParamSpec kParams[] = {
    {"port", ParamType::kCount, 1, 65535, 111, "portmapper port watched on TCP and UDP"},
    {"remember", ParamType::kSeconds, 86400, 31536000, 2592000,
     "seconds a source network's earlier probes are remembered (for the repeat evidence)"},
    max_updates_param(4, "update alerts per incident (when the number of hosts probed doubles)"),
    hold_down_param(3600, 604800,
                    "seconds of silence after which the same source starts a new incident"),
    table_size_param(16384,
                     "source networks (and probing sources) remembered, all shards together"),
};

constexpr uint64_t kDayNs = 86400'000'000'000ull;
constexpr int kVisits = 8;

// The source network a probe is remembered under.
IpAddr network_of(const IpAddr& a) {
  IpAddr n = a;
  const int keep = a.family == 4 ? 3 : 6;  // a /24 or a /48
  for (int i = keep; i < 16; ++i)
    n.bytes[i] = 0;
  return n;
}

struct Visit {
  uint64_t ts;
  IpAddr src;
  uint16_t sport;
};

// A source network's latest probes, for the repeat evidence.
struct NetEntry {
  PairKey key;
  uint64_t last_ts;
  uint32_t lru_prev, lru_next;
  Visit visits[kVisits];  // oldest overwritten
  uint32_t n;
};

// What the flow stage passes on of a probing conversation's first packet.
struct EventDetail {
  uint32_t payload_len;
  uint8_t proc;  // the portmapper procedure it calls (0: none parsed)
};

// One source's probing: its incident.
struct Entry : KitEntry {
  TargetList<16> hosts;
  uint32_t probes;  // conversations
  uint32_t procs;   // bit (proc + 1) per portmapper procedure called
  uint8_t protos;   // bit 0: udp, bit 1: tcp
  uint8_t first_proto;
  bool src_home;
  uint16_t first_sport;
  uint8_t ttl;
  uint16_t ip_id, tcp_flags;
  uint32_t payload_bytes;  // of the first probe
  Visit earlier;           // an earlier day's probe from the network (ts 0: none)
};

// What an alert carries beyond the shared fields.
struct Detail {
  uint32_t probes, procs, payload_bytes;
  uint8_t protos;
  bool src_home;
  Visit earlier;
};

// Beside the incidents: the source networks' earlier probes.
struct Networks : NoStateExtra {
  std::unique_ptr<BoundedTable<PairKey, NetEntry>> nets;
};

class PortmapProbe final : public IncidentDetector<PortmapProbe, Entry, Networks> {
 public:
  PortmapProbe(const DetectorDescriptor& d, const DetectorConfig& c)
      : IncidentDetector(d, c, "pmapi"),
        port_(uint16_t(c.get("port"))),
        remember_ns_(uint64_t(c.get("remember") * 1e9)) {}

  bool make_extra(State& s, int socket, uint32_t shard, uint32_t n_shards,
                  std::string* error) const {
    s.nets = make_table<PairKey, NetEntry>(desc_.id, "pmap", table_size_, shard, n_shards, socket,
                                           &s, error);
    return s.nets != nullptr;
  }

  PacketInterest packet_interest() const override {
    PacketInterest in;
    in.classes = class_bit(PacketClass::kTcp) | class_bit(PacketClass::kUdp);
    in.all_facts = packet_fact::kDstHome | packet_fact::kFromInitiator;
    in.ports = {port_};
    return in;
  }

  void on_packets(ShardCtx& ctx, PacketSelection pkts, DetectorState*) const noexcept override {
    const uint32_t bit = 1u << cfg_.index;
    for (const PacketCtx& p : pkts) {
      if (!p.decoded || p.flow == nullptr || !p.from_initiator || !p.dst_home) continue;
      const PacketView& v = *p.v;
      if (!v.has_ports() || v.dport != port_) continue;
      if (p.flow->alerted & bit) continue;
      if (p.src_home && ctx.rt.inventory->serves(v.dst, v.ip_proto, v.dport)) continue;
      p.flow->alerted |= bit;
      HostEvent e = own_event(p);
      const uint32_t proc =
          rpc::portmap_call_proc(v.payload, v.payload_len, v.proto == L4Proto::kTcp);
      e.detail.put(EventDetail{v.payload_len, uint8_t(proc < 32 ? proc : 0)});
      if (p.src_home) e.flags |= host_event_flag::kSrcHome;
      ctx.events->emit(e, network_of(v.src));
    }
  }

  void on_events(ShardCtx& ctx, EventSelection events, DetectorState* st) const noexcept override {
    State& s = state(st);
    for (const HostEvent& ev : events) {
      bool created;
      NetEntry* net =
          s.nets->find_or_insert(PairKey::make(network_of(ev.src), nullptr, 0, 0), ev.ts, &created);
      bool fresh;
      if (Entry* e =
              incident(ctx, s, PairKey::make(ev.src, nullptr, 0, 0), ev.ts, ev.order, &fresh)) {
        const EventDetail d = ev.detail.get<EventDetail>();
        if (fresh) {
          e->first_sport = ev.sport;
          e->ttl = ev.ttl, e->ip_id = ev.ip_id, e->tcp_flags = ev.tcp_flags;
          e->payload_bytes = d.payload_len;
          e->first_proto = ev.proto;
          e->src_home = ev.flags & host_event_flag::kSrcHome;
          if (const Visit* v = net ? earlier_day(*net, ev) : nullptr) e->earlier = *v;
        }
        ++e->probes;
        e->hosts.add(ev.dst, ev.ts);
        if (d.proc && d.proc < 32) e->procs |= 1u << d.proc;  // another process may say any proc
        e->protos |= ev.proto == 6 ? 2 : 1;
        grew(ctx, s, *e, true, ev.ts, ev.order);
      }
      if (net) net->visits[net->n++ % kVisits] = Visit{ev.ts, ev.src, ev.sport};
    }
  }

  void on_tick(ShardCtx& ctx, uint64_t now, DetectorState* st) const noexcept override {
    IncidentDetector::on_tick(ctx, now, st);
    if (now != UINT64_MAX) state(st).nets->expire(now, remember_ns_, 64);
  }

  // Called by the kit.
  uint32_t amount(const Entry& e) const noexcept { return e.hosts.total; }

  void fill(ShardCtx& ctx, Alert* a, const Entry& e) const noexcept {
    a->proto = e.first_proto;
    a->dst = e.hosts.addr[0];
    a->sport = e.first_sport, a->dport = port_;
    a->score = ctx.score(a->dst, e.first_proto, port_, cfg_.lethality);
    a->ttl = e.ttl;
    a->ip_id = e.ip_id;
    a->tcp_flags = e.tcp_flags;
    e.hosts.fill(*a);
    // One empty probe of one host: a scan's touch when its source is scanning.
    a->bare_probe = e.procs == 0 && e.hosts.total == 1;
    a->detail.put(Detail{e.probes, e.procs, e.payload_bytes, e.protos, e.src_home, e.earlier});
  }

 private:
  // The most telling earlier probe of this network on another day: one from
  // the same source port if there is one, else the latest.
  const Visit* earlier_day(const NetEntry& e, const HostEvent& ev) const noexcept {
    const Visit* best = nullptr;
    for (uint32_t i = 0; i < std::min<uint32_t>(e.n, kVisits); ++i) {
      const Visit& v = e.visits[i];
      if (v.ts / kDayNs == ev.ts / kDayNs || ev.ts - v.ts > remember_ns_) continue;
      const bool same_port = v.sport == ev.sport, best_same = best && best->sport == ev.sport;
      if (!best || (same_port && !best_same) || (same_port == best_same && v.ts > best->ts))
        best = &v;
    }
    return best;
  }

  uint16_t port_;
  uint64_t remember_ns_;
};

void render(const Alert& a, AlertText& t) {
  const Detail d = a.detail.get<Detail>();
  std::string procs;
  auto proc_list = nlohmann::ordered_json::array();
  for (uint32_t code = 1; code < 32; ++code)
    if (d.procs >> code & 1)
      if (const char* name = rpc::portmap_proc_name(code)) {
        procs += (procs.empty() ? "" : "/") + std::string(name);
        proc_list.push_back(name);
      }
  const bool repeat = d.earlier.ts != 0;
  const bool same_port = repeat && d.earlier.sport == a.sport;
  const double days_before = repeat ? double(a.first_ts - d.earlier.ts) / 86400e9 : 0;
  std::string again;
  if (repeat) {
    char days[32];
    std::snprintf(days, sizeof days, "%.1f", days_before);
    again = std::string("; its network probed here ") + days + " days earlier" +
            (same_port ? " from the same source port" : "") + " (" + ip_to_string(d.earlier.src) +
            ":" + std::to_string(d.earlier.sport) + ")";
  }
  const std::string protos = d.protos == 3 ? "tcp and udp" : proto_name(a.proto);
  const uint32_t hosts = std::max<uint32_t>(1, a.n_targets);
  const std::string where = hosts == 1 ? protos + " to port " + std::to_string(a.dport)
                                       : format_count(hosts) + " hosts on " + protos + "/" +
                                             std::to_string(a.dport) + " in " +
                                             format_seconds(span_seconds(a.first_ts, a.last_ts)) +
                                             ", " + target_order_name(a.target_order);
  t.signature =
      std::string("SunRPC portmapper ") + (hosts == 1 ? "probe" : "sweep") + " from " +
      (d.src_home ? "inside (not a listed RPC client)" : "outside") + ": " + where +
      (procs.empty() ? "" : " (" + procs + (proc_list.size() > 1 ? " calls)" : " call)")) +
      (a.sport < 1024 ? ", privileged source port " + std::to_string(a.sport) : "") + again +
      update_suffix(a);
  t.touched = std::to_string(a.dport) + "/" + proto_name(a.proto) + " portmapper";
  auto& e = t.evidence;
  if (repeat)
    e["earlier_probe"] = {{"timestamp", eve_timestamp(d.earlier.ts)},
                          {"src_ip", ip_to_string(d.earlier.src)},
                          {"src_port", d.earlier.sport},
                          {"same_source_port", same_port},
                          {"days_before", days_before}};
  e["proto"] = protos;
  e["source_inside"] = d.src_home;
  e["src_port"] = a.sport;
  e["privileged_src_port"] = a.sport < 1024;
  if (a.proto == 6) e["tcp_flags"] = format_tcp_flags(a.tcp_flags);
  e["payload_bytes"] = d.payload_bytes;
  e["ttl"] = a.ttl;
  e["ip_id"] = a.ip_id;
  if (!proc_list.empty())
    e["rpc"] = {
        {"program", rpc::kPortmapProgram}, {"procedure", proc_list[0]}, {"procedures", proc_list}};
  e["probes"] = d.probes;
  e["hosts"] = hosts;
  e["targets"] = listed_targets(a);
  e["order"] = target_order_name(a.target_order);
  e["first_seen"] = eve_timestamp(a.first_ts);
  e["last_seen"] = eve_timestamp(a.last_ts);
  e["update"] = a.update;
}

}  // namespace

extern const DetectorDescriptor kPortmapProbe = {
    "portmap-probe",
    1000002,
    DetectorKind::kHostBehaviour,
    "Attempted Information Leak",
    "Inbound packets to the SunRPC portmapper (111/tcp, 111/udp) of a home host from outside",
    4,
    kParams,
    make_detector<PortmapProbe>,
    render,
    {"The portmapper (rpcbind) tells a client which port each RPC program (NFS, mountd, NIS, "
     "statd, cmsd, ttdbserverd) listens on. A DUMP lists them all and a GETPORT asks for one: "
     "the step before exploiting an RPC service, many of which have had remote root holes.",
     "Unlikely: the prober needs the portmapper's answer to learn anything, so the source is "
     "probably its real address. A completed TCP handshake rules spoofing out.",
     "Block 111/tcp and 111/udp (and the RPC ports behind them) at the border; on hosts that "
     "need RPC, restrict rpcbind to the hosts that use it (tcp_wrappers, rpcbind -h) and patch "
     "the services it lists."},
    /*incident_is_victim=*/false,
    fusion_rank::kProtocol};

}  // namespace harrier
