// portmap-probe (seed detect 2): any packet from outside to the SunRPC
// portmapper of a home host. One alert per probing conversation (the flow's
// alerted bit), with what the analyst looked for next: whether the same
// source network (/24, or /48 for IPv6) probed on an earlier day, and from the
// same source port (the seed: 1023 from 207.8.127.x on two days).
//
// Does not fire on internal RPC traffic the inventory allows: a home source
// talking to a host that lists the portmapper as a served service.
//
// Host-behaviour: the flow shard sees the probe and sends it, keyed by the
// source network, to the host shard that remembers that network's probes.
#include <cstdio>

#include "dataplane/bounded_table.h"
#include "detectors/detector.h"
#include "detectors/evidence.h"
#include "detectors/protocols/rpc.h"

namespace harrier {
namespace {

constexpr ParamSpec kParams[] = {
    {"port", ParamType::kCount, 1, 65535, 111, "portmapper port watched on TCP and UDP"},
    {"remember", ParamType::kSeconds, 86400, 31536000, 2592000,
     "seconds a source network's earlier probes are remembered (for the repeat evidence)"},
    {"table_size", ParamType::kCount, 1024, 1 << 24, 16384,
     "source networks remembered, all shards together"},
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

struct Entry {
  PairKey key;
  uint64_t last_ts;
  uint32_t lru_prev, lru_next;
  Visit visits[kVisits];  // the latest probes of this network, oldest overwritten
  uint32_t n;
};
using Table = BoundedTable<PairKey, Entry>;

using State = TableState<Entry>;

class PortmapProbe final : public Detector {
 public:
  PortmapProbe(const DetectorDescriptor& d, const DetectorConfig& c)
      : Detector(d, c),
        port_(uint16_t(c.get("port"))),
        remember_ns_(uint64_t(c.get("remember") * 1e9)),
        table_size_(uint32_t(c.get("table_size"))) {}

  std::unique_ptr<DetectorState> make_state(int socket, uint32_t shard, uint32_t n_shards,
                                            std::string* error) const override {
    return state_with_table<State, Entry>(desc_.id, "pmap", table_size_, shard, n_shards, socket,
                                          error);
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
      HostEvent e;
      e.kind = HostEventKind::kDetector;
      e.detector = cfg_.index;
      e.ts = p.ts, e.order = p.order;
      e.src = v.src, e.dst = v.dst, e.sport = v.sport, e.dport = v.dport;
      e.proto = v.ip_proto, e.ttl = v.ttl, e.ip_id = v.ip_id, e.tcp_flags = v.tcp_flags;
      e.aux[0] = v.payload_len;
      e.aux[1] = rpc::portmap_call_proc(v.payload, v.payload_len, v.proto == L4Proto::kTcp);
      if (p.src_home) e.flags |= host_event_flag::kSrcHome;
      ctx.events->emit(e, network_of(v.src));
    }
  }

  void on_events(ShardCtx& ctx, std::span<const HostEvent> events,
                 DetectorState* st) const noexcept override {
    Table& t = *static_cast<State*>(st)->table;
    for (const HostEvent& ev : events) {
      if (ev.kind != HostEventKind::kDetector || ev.detector != cfg_.index) continue;
      bool created;
      Entry* e =
          t.find_or_insert(PairKey::make(network_of(ev.src), nullptr, 0, 0), ev.ts, &created);
      const Visit* earlier = e ? earlier_day(*e, ev) : nullptr;
      emit(ctx, ev, earlier);
      if (e) e->visits[e->n++ % kVisits] = Visit{ev.ts, ev.src, ev.sport};
    }
  }

  void on_tick(ShardCtx&, uint64_t now, DetectorState* st) const noexcept override {
    if (now != UINT64_MAX) static_cast<State*>(st)->table->expire(now, remember_ns_, 64);
  }

 private:
  // The most telling earlier probe of this network on another day: one from
  // the same source port if there is one, else the latest.
  const Visit* earlier_day(const Entry& e, const HostEvent& ev) const noexcept {
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

  void emit(ShardCtx& ctx, const HostEvent& ev, const Visit* earlier) const noexcept {
    Alert* a = ctx.alerts->next();
    if (!a) return;
    alert_header(*a, cfg_.index, ev.ts, ev.order, ev.proto, ev.src, ev.dst, ev.sport, ev.dport);
    a->first_ts = a->last_ts = ev.ts;
    a->score = ctx.score(ev.dst, ev.proto, ev.dport, cfg_.lethality);
    a->count[0] = ev.aux[0];
    a->count[3] = (ev.flags & host_event_flag::kSrcHome) != 0;
    a->ttl = ev.ttl;
    a->ip_id = ev.ip_id;
    a->tcp_flags = ev.tcp_flags;
    a->extra = ev.aux[1];
    a->bare_probe = ev.aux[1] == 0;  // no RPC call: a scan's touch when its source is scanning
    a->n_targets = 1;
    a->targets[0] = ev.dst;
    if (earlier) {
      // The earlier probe: when, from which host and port.
      a->first_ts = earlier->ts;
      a->targets[1] = earlier->src;
      a->count[1] = earlier->sport;
      a->count[2] = 1;
    }
  }

  uint16_t port_;
  uint64_t remember_ns_;
  uint32_t table_size_;
};

std::unique_ptr<Detector> make(const DetectorDescriptor& d, const DetectorConfig& c) {
  return std::make_unique<PortmapProbe>(d, c);
}

void render(const Alert& a, AlertText& t) {
  const char* proc = rpc::portmap_proc_name(a.extra);
  const bool repeat = a.count[2] != 0;
  const bool same_port = repeat && a.count[1] == a.sport;
  std::string again;
  if (repeat) {
    const double days = double(a.ts - a.first_ts) / 86400e9;
    char d[32];
    std::snprintf(d, sizeof d, "%.1f", days);
    again = std::string("; its network probed here ") + d + " days earlier" +
            (same_port ? " from the same source port" : "") + " (" + ip_to_string(a.targets[1]) +
            ":" + std::to_string(a.count[1]) + ")";
  }
  t.signature =
      std::string("SunRPC portmapper probe from ") +
      (a.count[3] ? "inside (not a listed RPC client)" : "outside") + ": " + proto_name(a.proto) +
      " to port " + std::to_string(a.dport) + (proc ? std::string(" (") + proc + " call)" : "") +
      (a.sport < 1024 ? ", privileged source port " + std::to_string(a.sport) : "") + again;
  t.touched = std::to_string(a.dport) + "/" + proto_name(a.proto) + " portmapper";
  auto& e = t.evidence;
  if (repeat)
    e["earlier_probe"] = {{"timestamp", eve_timestamp(a.first_ts)},
                          {"src_ip", ip_to_string(a.targets[1])},
                          {"src_port", a.count[1]},
                          {"same_source_port", same_port},
                          {"days_before", double(a.ts - a.first_ts) / 86400e9}};
  e["proto"] = proto_name(a.proto);
  e["source_inside"] = a.count[3] != 0;
  e["src_port"] = a.sport;
  e["privileged_src_port"] = a.sport < 1024;
  if (a.proto == 6) e["tcp_flags"] = format_tcp_flags(a.tcp_flags);
  e["payload_bytes"] = a.count[0];
  e["ttl"] = a.ttl;
  e["ip_id"] = a.ip_id;
  if (proc) e["rpc"] = {{"program", rpc::kPortmapProgram}, {"procedure", proc}};
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
    make,
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
