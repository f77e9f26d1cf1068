// portmap-probe (seed detect 2): any packet from outside to the SunRPC
// portmapper of a home host. Stateless: one look at the first packet of each
// flow; the flow's alerted bit makes it one alert per conversation.
//
// Does not fire on internal RPC traffic the inventory allows: a home source
// talking to a host that lists the portmapper as a served service.
#include <cstdio>

#include "detectors/detector.h"

namespace harrier {
namespace {

constexpr ParamSpec kParams[] = {
    {"port", ParamType::kCount, 1, 65535, 111, "portmapper port watched on TCP and UDP"},
};

constexpr uint32_t kPortmapProgram = 100000;

// ONC RPC call header (RFC 5531): xid, msg_type=0, rpcvers=2, prog, vers, proc.
// TCP prefixes a 4-byte record mark. Returns proc + 1, or 0 when the payload
// is not a portmapper call.
uint32_t rpc_portmap_proc(const PacketView& v) {
  const uint8_t* p = v.payload;
  uint32_t len = v.payload_len;
  if (v.proto == L4Proto::kTcp) {
    if (len < 4) return 0;
    p += 4, len -= 4;
  }
  if (len < 24) return 0;
  auto rd = [p](int off) {
    return uint32_t(p[off]) << 24 | uint32_t(p[off + 1]) << 16 | uint32_t(p[off + 2]) << 8 |
           p[off + 3];
  };
  if (rd(4) != 0 || rd(8) != 2 || rd(12) != kPortmapProgram) return 0;
  return rd(20) + 1;
}

const char* proc_name(uint32_t code) {
  static constexpr const char* kNames[] = {"NULL", "SET", "UNSET", "GETPORT", "DUMP", "CALLIT"};
  return code >= 1 && code <= 6 ? kNames[code - 1] : nullptr;
}

class PortmapProbe final : public Detector {
 public:
  PortmapProbe(const DetectorDescriptor& d, const DetectorConfig& c)
      : Detector(d, c), port_(uint16_t(c.get("port"))) {}

  void on_packets(ShardCtx& ctx, std::span<const PacketCtx> pkts,
                  DetectorState*) const noexcept override {
    const uint32_t bit = 1u << cfg_.index;
    for (const PacketCtx& p : pkts) {
      if (!p.decoded || p.flow == nullptr || !p.from_initiator || !p.dst_home) continue;
      const PacketView& v = *p.v;
      if (!v.has_ports() || v.dport != port_) continue;
      if (p.flow->alerted & bit) continue;
      if (p.src_home && ctx.rt.inventory->serves(v.dst, v.ip_proto, v.dport)) continue;
      p.flow->alerted |= bit;
      Alert* a = ctx.alerts->next();
      if (!a) continue;
      a->ts = a->first_ts = a->last_ts = p.ts;
      a->order = p.order;
      a->detector = cfg_.index;
      a->proto = v.ip_proto;
      a->src = v.src, a->dst = v.dst, a->sport = v.sport, a->dport = v.dport;
      a->score = ctx.score(v.dst, v.ip_proto, v.dport, cfg_.lethality);
      a->count[0] = v.payload_len;
      a->ttl = v.ttl;
      a->ip_id = v.ip_id;
      a->tcp_flags = v.tcp_flags;
      a->extra = rpc_portmap_proc(v);
      a->n_targets = 1;
      a->targets[0] = v.dst;
    }
  }

 private:
  uint16_t port_;
};

std::unique_ptr<Detector> make(const DetectorDescriptor& d, const DetectorConfig& c) {
  return std::make_unique<PortmapProbe>(d, c);
}

void render(const Alert& a, AlertText& t) {
  const char* proc = proc_name(a.extra);
  t.signature = "SunRPC portmapper probe from outside: " + proto_name(a.proto) + " to port " +
                std::to_string(a.dport) + (proc ? std::string(" (") + proc + " call)" : "") +
                (a.sport < 1024 ? ", privileged source port " + std::to_string(a.sport) : "");
  auto& e = t.evidence;
  e["proto"] = proto_name(a.proto);
  e["src_port"] = a.sport;
  e["privileged_src_port"] = a.sport < 1024;
  if (a.proto == 6) e["tcp_flags"] = format_tcp_flags(a.tcp_flags);
  e["payload_bytes"] = a.count[0];
  e["ttl"] = a.ttl;
  e["ip_id"] = a.ip_id;
  if (proc) e["rpc"] = {{"program", kPortmapProgram}, {"procedure", proc}};
}

}  // namespace

extern const DetectorDescriptor kPortmapProbe = {
    "portmap-probe",
    1000002,
    DetectorKind::kStateless,
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
     "the services it lists."}};

}  // namespace harrier
