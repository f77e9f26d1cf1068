// ping-then-connect (seed detect 8): an ICMP echo sweep, after which TCP
// connection attempts go only to the hosts that answered the echo, within
// `connect_window` of the answer. The scanner first learns which addresses
// are alive, then spends its port probes on them alone.
//
// What makes it a sweep rather than a monitor: several hosts pinged
// (>= min_pinged), at least one of them silent (a sweep covers addresses
// nobody uses; a monitor pings hosts it knows are there), and no connection
// attempt to a silent host (a monitor checks its service whatever the ping
// said). Host discovery that probes TCP at the same time as the echo (nmap
// -sn) does not count either: a hit is a connection attempt made after the
// target's echo reply, and probes of silent hosts count against the sweep
// only once the connect phase has begun. The first alert waits until the
// connect phase has been quiet for 2 s, so a scanner that goes on to the
// silent hosts after the live ones is not mistaken for one that chose.
//
// Host-behaviour: echo requests toward home hosts and the home hosts' echo
// replies become events keyed by the pinger; its TCP attempts arrive as the
// flow stage's connection outcomes (refused, unanswered, or open and left
// unused), on the same host shard. An attempt that became a conversation is
// not a probe and does not count.
#include <algorithm>

#include "detectors/incident_detector.h"

namespace harrier {
namespace {

constexpr ParamSpec kParams[] = {
    {"min_pinged", ParamType::kCount, 2, 32, 3, "distinct home hosts pinged"},
    {"min_connects", ParamType::kCount, 1, 1000, 1,
     "connection attempts to hosts that answered, after their answer"},
    {"connect_window", ParamType::kSeconds, 0.001, 3600, 60,
     "seconds after a host's echo reply within which a connection attempt counts"},
    {"silent_after", ParamType::kSeconds, 0.001, 60, 1,
     "seconds without an echo reply after which a pinged host counts as silent"},
    max_updates_param(4, "update alerts per incident (when the connection attempts double)"),
    hold_down_param(3600, 604800,
                    "seconds of silence after which the same source starts a new incident"),
    table_size_param(16384, "pinging sources remembered, all shards together"),
};

enum Code : uint8_t { kEchoRequest = 1, kEchoReply = 2 };
constexpr int kHosts = 32;
constexpr int kPorts = 8;

struct Entry : KitEntry {
  TargetList<kHosts> pinged;
  uint64_t reply_ts[kHosts];  // 0 until the host answered an echo
  uint32_t hit_mask;          // answered hosts probed after their reply
  uint32_t connects;          // attempts counted as hits
  uint32_t to_silent;         // attempts to pinged hosts that never answered
  uint32_t min_delay_ms, max_delay_ms;
  uint16_t ports[kPorts];
  uint8_t n_ports;
  uint8_t ttl;
  uint16_t tcp_flags;
  // The newest counted attempt: what an alert names.
  uint64_t first_hit_ts;
  IpAddr last_dst;
  uint16_t last_sport, last_dport;
};

// The alert's own evidence.
struct Detail {
  uint32_t pinged, answered, silent, connects;
  uint32_t min_delay_ms, max_delay_ms;
  uint8_t n_ports;
  uint16_t ports[kPorts];
};

class PingThenConnect final : public IncidentDetector<PingThenConnect, Entry> {
 public:
  PingThenConnect(const DetectorDescriptor& d, const DetectorConfig& c)
      : IncidentDetector(d, c, "pingcon"),
        min_pinged_(uint32_t(c.get("min_pinged"))),
        min_connects_(uint32_t(c.get("min_connects"))),
        window_ns_(uint64_t(c.get("connect_window") * 1e9)),
        silent_ns_(uint64_t(c.get("silent_after") * 1e9)) {}

  // Its own pings and replies, and every connection attempt's outcome.
  EventInterest event_interest() const override { return {EventInterest::kAllOutcomes, true}; }

  PacketInterest packet_interest() const override {
    PacketInterest in;  // echo requests to home hosts, their replies
    in.classes = class_bit(PacketClass::kIcmp);
    in.any_facts = packet_fact::kSrcHome | packet_fact::kDstHome;
    return in;
  }

  void on_packets(ShardCtx& ctx, PacketSelection pkts, DetectorState*) const noexcept override {
    for (const PacketCtx& p : pkts) {
      if (!p.decoded || p.v->is_icmp_error()) continue;
      const PacketView& v = *p.v;
      const bool v4 = v.proto == L4Proto::kIcmp, v6 = v.proto == L4Proto::kIcmp6;
      if (!v4 && !v6) continue;
      const bool request = v.icmp_type == (v4 ? 8 : 128) && p.dst_home;
      const bool reply = v.icmp_type == (v4 ? 0 : 129) && p.src_home;
      if (!request && !reply) continue;
      HostEvent e = own_event(p);
      e.code = request ? kEchoRequest : kEchoReply;
      e.src = request ? v.src : v.dst;  // always pinger -> pinged
      e.dst = request ? v.dst : v.src;
      ctx.events->emit(e, e.src);
    }
  }

  void on_events(ShardCtx& ctx, EventSelection events, DetectorState* st) const noexcept override {
    State& s = state(st);
    for (const HostEvent& ev : events) {
      const PairKey k = PairKey::make(ev.src, nullptr, 0, 0);
      if (ev.kind == HostEventKind::kDetector) {
        if (ev.code == kEchoRequest) {
          ping(ctx, s, k, ev);
        } else if (Entry* e = s.table->find(k)) {
          const int i = e->pinged.find(ev.dst);
          if (i >= 0 && e->reply_ts[i] == 0) e->reply_ts[i] = ev.ts;
        }
      } else if (ev.proto == 6) {  // a connection attempt's outcome
        if (Entry* e = s.table->find(k)) connect(s, *e, ev);
      }
    }
  }

  // Called by the kit.
  uint32_t amount(const Entry& e) const noexcept { return e.connects; }
  // Attempts reach us as outcomes, a grace after they were made: quiet is
  // judged up to where they are complete.
  uint64_t quiet_clock(const ShardCtx& ctx, uint64_t now) const noexcept {
    return ctx.outcomes_complete_until(now);
  }
  uint64_t idle_ns() const noexcept { return std::max(window_ns_, policy_.hold_down_ns); }
  // The first alert, too, is decided once the connect phase has been quiet
  // (see top); then attempts that followed it are reported once they stop.
  uint64_t settle(ShardCtx& ctx, uint64_t now, Entry& e) const noexcept {
    if (e.inc.alerts_sent) return IncidentDetector::settle(ctx, now, e);
    const uint64_t at = quiet_at(e);
    if (now != UINT64_MAX && now < at) return at;
    if (met(e) && policy_.decide(e.inc, e.connects, true, now))
      emit(ctx, e, e.inc.last_ts, e.last_order);
    return 0;  // judged; a new hit lists it again
  }

  void fill(ShardCtx& ctx, Alert* a, const Entry& e) const noexcept {
    a->proto = 6;
    a->dst = e.last_dst;
    a->sport = e.last_sport, a->dport = e.last_dport;
    a->score = ctx.score(e.last_dst, 6, e.last_dport, cfg_.lethality);
    uint32_t answered = 0;
    for (uint32_t j = 0; j < e.pinged.n; ++j)
      answered += e.reply_ts[j] != 0;
    // Targets: the hosts connected to after answering, in order of first ping.
    uint32_t n = 0;
    for (uint32_t j = 0; j < e.pinged.n; ++j)
      if (e.hit_mask & (1u << j)) {
        if (n < uint32_t(Alert::kMaxTargets)) a->targets[n] = e.pinged.addr[j];
        ++n;
      }
    a->n_targets = n;
    Detail d{e.pinged.total,
             answered,
             silent_count(e, e.inc.last_ts),
             e.connects,
             e.min_delay_ms,
             e.max_delay_ms,
             e.n_ports,
             {}};
    std::copy(e.ports, e.ports + e.n_ports, d.ports);
    a->detail.put(d);
    a->tcp_flags = e.tcp_flags;
    a->ttl = e.ttl;
  }

 private:
  // Quiet for 2 s, or a connect phase that goes on for 10 s: long enough to
  // have seen it reach silent hosts.
  uint64_t quiet_at(const Entry& e) const noexcept {
    return std::min(e.inc.last_ts + policy_.min_gap_ns, e.first_hit_ts + 5 * policy_.min_gap_ns);
  }

  void ping(ShardCtx& ctx, State& s, const PairKey& k, const HostEvent& ev) const noexcept {
    bool fresh;
    Entry* e = incident(ctx, s, k, ev.ts, ev.order, &fresh);
    if (!e) return;
    if (fresh) {
      e->ttl = ev.ttl;
      e->min_delay_ms = UINT32_MAX;
    }
    e->pinged.add(ev.dst, ev.ts);
  }

  void connect(State& s, Entry& e, const HostEvent& ev) const noexcept {
    const int i = e.pinged.find(ev.dst);
    if (i < 0) return;  // not a pinged host: no evidence either way
    s.table->touch(&e, ev.ts);
    if (e.reply_ts[i] == 0) {
      // Probed without having answered, once the connect phase has begun: a
      // scanner that does not care about the ping, or a monitor checking
      // anyway. Discovery probes sent alongside the echoes (nmap's SYN to 443
      // and ACK to 80, and their retries) come before any hit and do not count.
      if (e.connects > 0 && ev.ts >= e.pinged.first_ts[i] + silent_ns_) ++e.to_silent;
      return;
    }
    if (ev.ts < e.reply_ts[i] || ev.ts - e.reply_ts[i] > window_ns_) return;
    const uint32_t delay_ms = uint32_t((ev.ts - e.reply_ts[i]) / 1000000);
    e.min_delay_ms = std::min(e.min_delay_ms, delay_ms);
    e.max_delay_ms = std::max(e.max_delay_ms, delay_ms);
    e.hit_mask |= 1u << i;
    if (e.connects++ == 0) e.first_hit_ts = ev.ts;
    e.inc.last_ts = std::max(e.inc.last_ts, ev.ts);  // echoes made since may have arrived first
    e.last_order = ev.order;
    e.last_dst = ev.dst;
    e.last_sport = ev.sport, e.last_dport = ev.dport;
    e.tcp_flags |= ev.tcp_flags;
    bool known = false;
    for (uint32_t j = 0; j < e.n_ports; ++j)
      known = known || e.ports[j] == ev.dport;
    if (!known && e.n_ports < kPorts) e.ports[e.n_ports++] = ev.dport;

    // Judged from a tick once the connect phase has been quiet (see top).
    s.settle.add(s.table->index_of(&e), e.inc,
                 e.inc.alerts_sent ? policy_.settle_due(e.inc) : quiet_at(e));
  }

  bool met(const Entry& e) const noexcept {
    return e.pinged.total >= min_pinged_ && silent_count(e, e.inc.last_ts) > 0 &&
           e.to_silent == 0 && e.connects >= min_connects_;
  }

  uint32_t silent_count(const Entry& e, uint64_t now) const noexcept {
    uint32_t silent = 0;
    for (uint32_t j = 0; j < e.pinged.n; ++j)
      silent += e.reply_ts[j] == 0 && now >= e.pinged.first_ts[j] + silent_ns_;
    return silent;
  }

  uint32_t min_pinged_, min_connects_;
  uint64_t window_ns_, silent_ns_;
};

void render(const Alert& a, AlertText& t) {
  const Detail d = a.detail.get<Detail>();
  const uint32_t pinged = d.pinged, answered = d.answered, silent = d.silent;
  const uint32_t connects = d.connects;
  std::string ports;
  auto port_list = nlohmann::ordered_json::array();
  for (uint32_t i = 0; i < std::min<uint32_t>(d.n_ports, kPorts); ++i) {
    ports += (i ? "," : "") + std::to_string(d.ports[i]);
    port_list.push_back(d.ports[i]);
  }
  const double lo = d.min_delay_ms / 1e3, hi = d.max_delay_ms / 1e3;
  t.signature =
      "Ping sweep then connect: " + format_count(pinged) + " hosts pinged, " +
      format_count(answered) + " answered; " + format_count(connects) + " " +
      format_tcp_flags(a.tcp_flags) + (connects == 1 ? " attempt" : " attempts") + " to tcp/" +
      ports + " on " +
      (a.n_targets == 1 ? "the answering host " : format_count(a.n_targets) + " answering hosts ") +
      "only, " + format_seconds(lo) + " after the reply" + update_suffix(a);
  auto& e = t.evidence;
  e["pinged"] = pinged;
  e["answered"] = answered;
  e["silent"] = silent;
  e["connects"] = connects;
  e["ports"] = port_list;
  e["delay_after_reply_s"] = {lo, hi};
  e["flags"] = format_tcp_flags(a.tcp_flags);
  e["first_seen"] = eve_timestamp(a.first_ts);
  e["last_seen"] = eve_timestamp(a.last_ts);
  e["ttl"] = a.ttl;
  e["connected_hosts"] = listed_targets(a);
  e["update"] = a.update;
}

}  // namespace

extern const DetectorDescriptor kPingThenConnect = {
    "ping-then-connect",
    1000008,
    DetectorKind::kHostBehaviour,
    "Detection of a Network Scan",
    "An ICMP echo sweep, then TCP connection attempts only to the hosts that answered",
    3,
    kParams,
    make_detector<PingThenConnect>,
    render,
    {"The scanner pings a range of addresses, notes which ones answer, and then probes only "
     "those for services (the seed: web 80 and SOCKS 1080, looking for open proxies). Spending "
     "port probes on live hosts alone is what separates a staged scan from random noise.",
     "Unlikely: the echo replies must reach the scanner for the second stage to pick its "
     "targets, so the source is its real address.",
     "Drop inbound ICMP echo at the border (or answer it only for hosts that must be "
     "pingable), check the probed services on the hosts that answered (an open proxy on 1080 "
     "is abused quickly), and block the source."},
    /*incident_is_victim=*/false,
    fusion_rank::kProbeKind};

}  // namespace harrier
