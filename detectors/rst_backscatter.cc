// rst-backscatter (seed detect 6): TCP resets arriving at a home host for
// connections it never opened (the RST itself is the first packet of its
// flow). Three patterns:
//  - "same port": >= 2 distinct sources reset us from the same source port
//    within 72 h. Unrelated hosts do not share an unprivileged source port by
//    chance: the SYNs they answered came from one tool that forged our
//    address (the seed: 20766 from three networks over two days). Service
//    ports (below `same_port_min`: 80, 443, 25...) are shared by every server,
//    and a sensor started mid-connection sees their closing RSTs unsolicited,
//    so they count only toward the flood rule;
//  - "flood": >= 20 unsolicited RSTs within 1 h, the backscatter of a
//    spoofed-source flood against someone else;
//  - "spread": >= 4 distinct sources within 10 min, service ports included
//    (web and mail servers answering SYNs forged with our address). A
//    sensor started mid-conversation sees one or two closing RSTs of
//    connections idle when it started, soon after the start: RSTs within
//    `startup_grace` of the input's first packet do not count here, and a
//    lone stray one never reaches four sources.
// A RST closing a connection the home host did open finds its flow and never
// counts.
//
// Host-behaviour, keyed by the victim (the home host receiving the RSTs).
#include <algorithm>
#include <cstring>
#include <utility>

#include "detectors/incident_detector.h"

namespace harrier {
namespace {

constexpr int kSources = 4;  // sources remembered per port

constexpr ParamSpec kParams[] = {
    {"same_port_sources", ParamType::kCount, 2, kSources, 2,
     "distinct sources resetting from one source port"},
    {"same_port_window", ParamType::kSeconds, 1, 2592000, 259200, "seconds for the same-port rule"},
    {"same_port_min", ParamType::kCount, 0, 65535, 1024,
     "lowest source port the same-port rule considers (service ports are shared by all)"},
    {"flood_rsts", ParamType::kCount, 2, 64, 20, "unsolicited RSTs for the flood rule"},
    {"flood_window", ParamType::kSeconds, 1, 604800, 3600, "seconds for the flood rule"},
    {"spread_sources", ParamType::kCount, 2, 16, 4,
     "distinct sources (any source port) for the spread rule"},
    {"spread_window", ParamType::kSeconds, 1, 86400, 600, "seconds for the spread rule"},
    {"startup_grace", ParamType::kSeconds, 0, 86400, 60,
     "seconds after the input's first packet whose RSTs the spread rule leaves out (they may "
     "close connections older than the sensor's view)"},
    max_updates_param(4, "update alerts per incident (when the RST count doubles)"),
    hold_down_param(259200, 2592000,
                    "seconds of silence after which the same victim starts a new incident"),
    table_size_param(16384, "victims remembered, all shards together"),
};

constexpr int kPorts = 8;  // source ports tracked per victim
constexpr int kRing = 64;  // RST times kept for the flood rule (flood_rsts <= kRing)

// What the flow stage passes on of a RST.
struct EventDetail {
  uint32_t ack;
};

struct PortSlot {
  uint16_t port;
  uint8_t n_sources;
  uint64_t first_ts, last_ts;
  IpAddr sources[kSources];
};

// Which rules the latest RST met.
namespace rule {
inline constexpr uint8_t kSamePort = 1, kFlood = 2, kSpread = 4;
}

struct Entry : KitEntry {
  uint32_t rsts;
  uint32_t ring_head;
  uint64_t ring[kRing];
  PortSlot ports[kPorts];
  uint8_t first_ttl;
  uint16_t first_ip_id;
  uint32_t first_ack;
  uint16_t first_dport;
  TargetList<16> sources;
  TargetList<16> spread;  // sources past the startup grace, for the spread rule
  // The latest RST, and what it met: what an alert names.
  IpAddr last_src;
  uint16_t last_sport;
  uint8_t rules;
  int8_t same_slot;  // ports[] of the same-port rule (-1: not met)
};

// The alert's own evidence.
struct Detail {
  uint32_t rsts;
  uint32_t same_port_sources;  // sources on the same-port rule's port (0: not met)
  uint32_t flood_rsts;         // RSTs within the flood window
  uint32_t spread_sources;     // distinct sources within the spread window
  uint32_t distinct_sources;
  uint32_t first_ack;
  uint8_t rules;
  uint8_t n_ports;
  uint16_t ports[kPorts];  // source ports seen, most recent kPorts
};

class RstBackscatter final : public IncidentDetector<RstBackscatter, Entry> {
 public:
  RstBackscatter(const DetectorDescriptor& d, const DetectorConfig& c)
      : IncidentDetector(d, c, "rstb", /*closing_update=*/false),
        same_port_sources_(uint32_t(c.get("same_port_sources"))),
        same_port_window_(uint64_t(c.get("same_port_window") * 1e9)),
        same_port_min_(uint32_t(c.get("same_port_min"))),
        flood_rsts_(uint32_t(c.get("flood_rsts"))),
        flood_window_(uint64_t(c.get("flood_window") * 1e9)),
        spread_sources_(uint32_t(c.get("spread_sources"))),
        spread_window_(uint64_t(c.get("spread_window") * 1e9)),
        startup_grace_(uint64_t(c.get("startup_grace") * 1e9)) {}

  PacketInterest packet_interest() const override {
    PacketInterest in;  // a reset that opens a flow toward a home host
    in.classes = class_bit(PacketClass::kTcp);
    in.all_facts = packet_fact::kDstHome | packet_fact::kFlowCreated;
    in.no_facts = packet_fact::kSrcHome;
    in.tcp_flags = [](uint16_t f) { return (f & tcp_flag::kRst) && !(f & tcp_flag::kSyn); };
    return in;
  }

  void on_packets(ShardCtx& ctx, PacketSelection pkts, DetectorState*) const noexcept override {
    for (const PacketCtx& p : pkts) {
      if (!p.decoded || !p.flow_created || !p.dst_home || p.src_home) continue;
      const PacketView& v = *p.v;
      if (v.proto != L4Proto::kTcp || !(v.tcp_flags & tcp_flag::kRst) ||
          (v.tcp_flags & tcp_flag::kSyn))
        continue;
      HostEvent e = own_event(p);
      e.detail.put(EventDetail{v.tcp_ack});
      ctx.events->emit(e, e.dst);
    }
  }

  void on_events(ShardCtx& ctx, EventSelection events, DetectorState* st) const noexcept override {
    State& s = state(st);
    for (const HostEvent& ev : events) {
      bool fresh;
      Entry* e = incident(ctx, s, PairKey::make(ev.dst, nullptr, 6, 0), ev.ts, ev.order, &fresh);
      if (!e) continue;
      if (fresh) {
        e->first_ttl = ev.ttl, e->first_ip_id = ev.ip_id;
        e->first_ack = ev.detail.get<EventDetail>().ack;
        e->first_dport = ev.dport;
      }
      ++e->rsts;
      e->ring[e->ring_head++ % kRing] = ev.ts;
      e->sources.add(ev.src, ev.ts);
      const PortSlot* same = note_port(*e, ev);
      const bool same_port =
          same && same->port >= same_port_min_ && same->n_sources >= same_port_sources_;
      const bool flood = flood_count(*e, ev.ts) >= flood_rsts_;
      if (ev.ts >= ctx.input_start_ns + startup_grace_) e->spread.add(ev.src, ev.ts);
      const bool spread = spread_count(*e, ev.ts) >= spread_sources_;
      e->last_src = ev.src, e->last_sport = ev.sport;
      e->rules = uint8_t((same_port ? rule::kSamePort : 0) | (flood ? rule::kFlood : 0) |
                         (spread ? rule::kSpread : 0));
      e->same_slot = same_port ? int8_t(same - e->ports) : int8_t(-1);
      grew(ctx, s, *e, e->rules != 0, ev.ts, ev.order);
    }
  }

  // Called by the kit.
  uint32_t amount(const Entry& e) const noexcept { return e.rsts; }
  uint64_t idle_ns() const noexcept { return std::max(policy_.hold_down_ns, same_port_window_); }

  void fill(ShardCtx& ctx, Alert* a, const Entry& e) const noexcept {
    const PortSlot* same = e.same_slot >= 0 ? &e.ports[e.same_slot] : nullptr;
    a->proto = 6;  // the latest RST's sender is the alert's source, the victim its destination
    a->src = e.last_src, a->dst = e.key.first();
    a->sport = same ? same->port : e.last_sport, a->dport = e.first_dport;
    a->score = ctx.score(a->dst, 6, e.first_dport, cfg_.lethality);
    Detail d{};
    d.rsts = e.rsts;
    d.same_port_sources = same ? same->n_sources : 0;
    d.flood_rsts = flood_count(e, e.inc.last_ts);
    d.spread_sources = spread_count(e, e.inc.last_ts);
    d.distinct_sources = e.sources.total;
    d.first_ack = e.first_ack;
    d.rules = e.rules;
    for (const PortSlot& p : e.ports)
      if (p.n_sources) d.ports[d.n_ports++] = p.port;
    std::sort(d.ports, d.ports + d.n_ports);
    a->detail.put(d);
    a->ttl = e.first_ttl, a->ip_id = e.first_ip_id;
    // targets: the sources that reset us (same-port ones first when that rule fired).
    if (same) {
      const uint32_t n = std::min<uint32_t>(same->n_sources, kSources);
      for (uint32_t i = 0; i < n; ++i)
        a->targets[i] = same->sources[i];
      a->n_targets = same->n_sources;
      a->target_order = TargetOrder::kSingle;
    } else {
      e.sources.fill(*a);
    }
  }

 private:
  // Records the RST's source under its source port; returns the slot.
  const PortSlot* note_port(Entry& e, const HostEvent& ev) const noexcept {
    PortSlot* slot = nullptr;
    PortSlot* oldest = &e.ports[0];
    for (PortSlot& s : e.ports) {
      if (s.n_sources && s.port == ev.sport) {
        slot = &s;
        break;
      }
      if (s.n_sources == 0 || s.last_ts < oldest->last_ts) oldest = &s;
    }
    if (slot && ev.ts > slot->first_ts && ev.ts - slot->first_ts > same_port_window_)
      *slot = PortSlot{};  // its sources are too old to pair with this one
    if (!slot || slot->n_sources == 0) {
      slot = slot ? slot : oldest;
      *slot = PortSlot{};
      slot->port = ev.sport;
      slot->first_ts = ev.ts;
    }
    slot->last_ts = ev.ts;
    for (uint32_t i = 0; i < slot->n_sources && i < kSources; ++i)
      if (slot->sources[i] == ev.src) return slot;
    // Beyond the remembered few a repeat cannot be told from a new source, so
    // the count stops there (same_port_sources is at most kSources).
    if (slot->n_sources < kSources) slot->sources[slot->n_sources++] = ev.src;
    return slot;
  }

  uint32_t spread_count(const Entry& e, uint64_t now) const noexcept {
    return e.spread.count_since(now > spread_window_ ? now - spread_window_ : 0);
  }

  uint32_t flood_count(const Entry& e, uint64_t now) const noexcept {
    const uint32_t kept = std::min<uint32_t>(e.rsts, kRing);
    uint32_t n = 0;
    for (uint32_t i = 0; i < kept; ++i)
      n += now - std::min(now, e.ring[i]) <= flood_window_;
    return n;
  }

  uint32_t same_port_sources_;
  uint64_t same_port_window_;
  uint32_t same_port_min_;
  uint32_t flood_rsts_;
  uint64_t flood_window_;
  uint32_t spread_sources_;
  uint64_t spread_window_;
  uint64_t startup_grace_;
};

void render(const Alert& a, AlertText& t) {
  const Detail d = a.detail.get<Detail>();
  const bool same = d.rules & rule::kSamePort, flood = d.rules & rule::kFlood,
             spread = d.rules & rule::kSpread;
  std::string ports;
  auto port_list = nlohmann::ordered_json::array();
  for (uint32_t i = 0; i < d.n_ports && i < kPorts; ++i) {
    ports += (ports.empty() ? "" : ", ") + std::to_string(d.ports[i]);
    port_list.push_back(d.ports[i]);
  }
  const double span = span_seconds(a.first_ts, a.last_ts);
  std::string why;
  if (same)
    why = format_count(d.same_port_sources) + " sources reset it from the same source port " +
          std::to_string(a.sport);
  if (flood)
    why += (why.empty() ? "" : "; ") + format_count(d.flood_rsts) +
           " unsolicited RSTs in the flood window";
  if (spread)
    why += (why.empty() ? "" : "; ") + format_count(d.spread_sources) +
           " sources within the spread window, from source ports " + ports;
  t.signature = "RST backscatter: " + ip_to_string(a.dst) + " received " + format_count(d.rsts) +
                " resets for connections it never opened over " +
                (span >= 3600 ? format_count(uint64_t(span / 3600)) + " h" : format_seconds(span)) +
                "; " + why + update_suffix(a);
  auto& e = t.evidence;
  e["rsts"] = d.rsts;
  std::string rule;
  for (const auto& [on, name] :
       {std::pair{same, "same_port"}, {flood, "flood"}, {spread, "spread"}})
    if (on) rule += (rule.empty() ? "" : "+") + std::string(name);
  e["rule"] = rule;
  e["sources_in_spread_window"] = d.spread_sources;
  e["source_ports"] = port_list;
  if (same) {
    e["source_port"] = a.sport;
    e["sources_on_that_port"] = d.same_port_sources;
  }
  e["rsts_in_flood_window"] = d.flood_rsts;
  e["distinct_sources"] = d.distinct_sources;
  e["first_ack"] = d.first_ack;
  e["first_ttl"] = a.ttl;
  e["first_ip_id"] = a.ip_id;
  e["matching_flow"] = false;
  e["first_seen"] = eve_timestamp(a.first_ts);
  e["last_seen"] = eve_timestamp(a.last_ts);
  e["sources"] = listed_targets(a);
  e["update"] = a.update;
}

}  // namespace

extern const DetectorDescriptor kRstBackscatter = {
    "rst-backscatter",
    1000006,
    DetectorKind::kHostBehaviour,
    "Misc activity",
    "TCP resets to a home host for connections it never opened (its address was spoofed)",
    2,
    kParams,
    make_detector<RstBackscatter>,
    render,
    {"Someone sent SYNs to third parties with the home host's address forged as their source "
     "(a decoy scan, or a SYN flood hiding its origin). The third parties answered the apparent "
     "sender: closed ports with RST, and those resets arrive here. Several unrelated networks "
     "resetting us from one source port means one tool behind all of them.",
     "The resets themselves are genuine answers from the third parties; the SYNs that caused "
     "them carried our address, spoofed. The RST senders are victims too, not attackers.",
     "Nothing to block on the home host; keep egress anti-spoofing filters, and if the volume "
     "grows, the host is being framed in a flood: tell the upstream provider."},
    /*incident_is_victim=*/true,
    fusion_rank::kShape};

}  // namespace harrier
