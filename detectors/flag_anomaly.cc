// flag-anomaly ("Analyze This": Null scan, XMAS, SYN with reserved bits):
// TCP flag combinations that no stack sends. NULL (no flags), XMAS
// (FIN+PSH+URG), SYN+FIN, SYN+RST, FIN without ACK, the three truly reserved
// header bits, and ECE or CWR alone on a SYN.
//
// Not anomalies: ECN setup (SYN with ECE+CWR, RFC 3168), a SYN-ACK with ECE,
// and ECN-marked data segments (ECE or CWR with ACK).
//
// Host-behaviour: the flow shards classify packets toward home hosts and send
// one event per anomalous packet; the host shard keeps one incident per
// source, listing the kinds it sent with a count each, so a NULL scan of
// 1,000 ports is one alert with counts, and hping3 trying five kinds in a
// row is one incident naming all five.
#include <cstring>

#include "detectors/incident_detector.h"

namespace harrier {
namespace {

constexpr ParamSpec kParams[] = {
    max_updates_param(4, "update alerts per incident (when the packet count doubles)"),
    hold_down_param(3600, 604800, "seconds of silence after which a source's anomaly starts anew"),
    table_size_param(16384, "sources remembered, all shards together"),
};

enum Kind : uint8_t {
  kNone = 0,
  kSynRst,
  kSynFin,
  kXmas,
  kNull,
  kFinNoAck,
  kEcnHalfOnSyn,
  kReservedBits,
};

constexpr const char* kKindNames[] = {"",
                                      "SYN+RST",
                                      "SYN+FIN",
                                      "XMAS (FIN+PSH+URG)",
                                      "NULL (no flags)",
                                      "FIN without ACK",
                                      "ECE or CWR alone on a SYN",
                                      "reserved header bits set"};
constexpr const char* kKindIds[] = {"",     "syn_rst",    "syn_fin",         "xmas",
                                    "null", "fin_no_ack", "ecn_half_on_syn", "reserved_bits"};

Kind classify(uint16_t f) {
  using namespace tcp_flag;
  const bool syn = f & kSyn, fin = f & kFin, rst = f & kRst, ack = f & kAck;
  if (syn && rst) return kSynRst;
  if (syn && fin) return kSynFin;
  if ((f & (kFin | kPsh | kUrg)) == (kFin | kPsh | kUrg) && !ack) return kXmas;
  if ((f & 0x3F) == 0) return kNull;  // ECE/CWR/NS alone still carry no control flag
  if (fin && !ack) return kFinNoAck;
  if (syn && !ack && bool(f & kEce) != bool(f & kCwr)) return kEcnHalfOnSyn;
  if (f & kReserved) return kReservedBits;
  return kNone;
}

constexpr int kKinds = 8;

struct Entry : KitEntry {
  uint32_t packets;
  uint32_t per_kind[kKinds];  // packets of each Kind
  uint8_t first_kind;
  uint16_t flags_seen;  // union of the anomalous packets' flags
  uint16_t first_sport, first_dport;
  uint8_t ttl;
  uint16_t ip_id;
  uint16_t port_lo, port_hi;
  PortCounter ports;  // distinct destination ports
  TargetList<16> targets;
};

// What an alert carries beyond the shared fields.
struct Detail {
  uint32_t per_kind[kKinds];
  uint32_t packets;
  uint32_t ports;  // distinct destination ports (estimate)
  uint16_t port_lo, port_hi;
  uint8_t first_kind;
};

class FlagAnomaly final : public IncidentDetector<FlagAnomaly, Entry> {
 public:
  FlagAnomaly(const DetectorDescriptor& d, const DetectorConfig& c)
      : IncidentDetector(d, c, "flag") {}

  PacketInterest packet_interest() const override {
    PacketInterest in;
    in.classes = class_bit(PacketClass::kTcp);
    in.all_facts = packet_fact::kDstHome;
    in.tcp_flags = [](uint16_t f) { return classify(f) != kNone; };
    return in;
  }

  void on_packets(ShardCtx& ctx, PacketSelection pkts, DetectorState*) const noexcept override {
    for (const PacketCtx& p : pkts) {
      if (!p.decoded || !p.dst_home || p.v->proto != L4Proto::kTcp || p.v->is_later_fragment)
        continue;
      const Kind k = classify(p.v->tcp_flags);
      if (k == kNone) continue;
      HostEvent e = own_event(p);
      e.code = k;
      ctx.events->emit(e, e.src);
    }
  }

  void on_events(ShardCtx& ctx, EventSelection events, DetectorState* st) const noexcept override {
    State& s = state(st);
    for (const HostEvent& ev : events) {
      bool fresh;
      Entry* e = incident(ctx, s, PairKey::make(ev.src, nullptr, 6, 0), ev.ts, ev.order, &fresh);
      if (!e) continue;
      if (fresh) {
        e->first_kind = ev.code;
        e->first_sport = ev.sport, e->first_dport = ev.dport;
        e->ttl = ev.ttl, e->ip_id = ev.ip_id;
        e->port_lo = e->port_hi = ev.dport;
      }
      ++e->packets;
      ++e->per_kind[ev.code % kKinds];
      e->flags_seen |= ev.tcp_flags;
      e->targets.add(ev.dst, ev.ts);
      e->port_lo = std::min(e->port_lo, ev.dport);
      e->port_hi = std::max(e->port_hi, ev.dport);
      e->ports.add(ev.dport);
      grew(ctx, s, *e, true, ev.ts, ev.order);
    }
  }

  uint32_t amount(const Entry& e) const noexcept { return e.packets; }

  void fill(ShardCtx& ctx, Alert* a, const Entry& e) const noexcept {
    a->proto = 6;
    a->dst = e.targets.addr[0];
    a->sport = e.first_sport, a->dport = e.first_dport;
    a->score = ctx.score(a->dst, 6, e.first_dport, cfg_.lethality);
    Detail d{};
    std::copy(e.per_kind, e.per_kind + kKinds, d.per_kind);
    d.packets = e.packets;
    d.ports = e.ports.estimate();
    d.port_lo = e.port_lo, d.port_hi = e.port_hi;
    d.first_kind = e.first_kind;
    a->detail.put(d);
    a->tcp_flags = e.flags_seen;
    a->ttl = e.ttl, a->ip_id = e.ip_id;
    e.targets.fill(*a);
  }
};

void render(const Alert& a, AlertText& t) {
  const Detail d = a.detail.get<Detail>();
  std::string kinds;
  auto kind_list = nlohmann::ordered_json::array();
  auto by_kind = nlohmann::ordered_json::object();
  for (int k = 1; k < kKinds && k < int(std::size(kKindNames)); ++k)
    if (d.per_kind[k]) {
      kinds += (kinds.empty() ? "" : ", ") + std::string(kKindNames[k]);
      kind_list.push_back(kKindIds[k]);
      by_kind[kKindIds[k]] = d.per_kind[k];
    }
  const uint32_t first = d.first_kind < std::size(kKindIds) ? d.first_kind : 0;
  const uint32_t packets = d.packets, ports = d.ports;
  t.signature = std::string("TCP flags no stack sends: ") + kinds + ", " + format_count(packets) +
                (packets == 1 ? " packet" : " packets") + " to " +
                (a.n_targets == 1 ? ip_to_string(a.dst) : format_count(a.n_targets) + " hosts") +
                (ports == 1 ? " port " + std::to_string(a.dport)
                            : ", " + format_count(ports) + " ports " + std::to_string(d.port_lo) +
                                  "-" + std::to_string(d.port_hi)) +
                update_suffix(a);
  auto& e = t.evidence;
  e["anomaly"] = kKindIds[first];  // the first kind seen
  e["anomalies"] = kind_list;
  e["packets_by_anomaly"] = by_kind;
  e["flags"] = format_tcp_flags(a.tcp_flags);
  e["packets"] = packets;
  e["ports"] = ports;
  e["port_range"] = {d.port_lo, d.port_hi};
  e["first_seen"] = eve_timestamp(a.first_ts);
  e["last_seen"] = eve_timestamp(a.last_ts);
  e["ttl"] = a.ttl;
  e["ip_id"] = a.ip_id;
  e["targets"] = listed_targets(a);
  e["targets_total"] = a.n_targets;
  e["update"] = a.update;
}

}  // namespace

extern const DetectorDescriptor kFlagAnomaly = {
    "flag-anomaly",
    1000014,
    DetectorKind::kHostBehaviour,
    "Detection of a Non-Standard Protocol or Event",
    "TCP flag combinations no stack sends (NULL, XMAS, SYN+FIN, SYN+RST, FIN alone, reserved "
    "bits, half of ECN on a SYN)",
    2,
    kParams,
    make_detector<FlagAnomaly>,
    render,
    {"Scanners hand-craft TCP headers with flag combinations RFC 793 never produces. Stacks "
     "answer them inconsistently (a closed port sends RST, an open one stays silent, some "
     "systems answer anything), which maps open ports past filters that only watch SYNs and "
     "tells one operating system from another.",
     "Possible but unlikely: the prober needs the answers, so the source is probably real; a "
     "few packets alone cannot rule spoofing out.",
     "Drop these combinations at the edge (a stateful firewall does so for everything but a SYN "
     "that opens a connection), and look at the source's other traffic: flag probes usually come "
     "with a port scan or an OS fingerprint."},
    /*incident_is_victim=*/false,
    fusion_rank::kProbeKind};

}  // namespace harrier
