// os-fingerprint ("Evaluate an Attack": nmap -O; "Analyze This": "Probable
// NMAP fingerprint attempt"): a set of probes that only an OS fingerprinter
// sends, from one source to one home host within a short window. Each probe
// is built to make stacks answer differently (window, options, flags echoed,
// ISN generator), so no single one is proof, but two different kinds from the
// same source against the same host within 10 s are.
//
// Probe types (one bit each), all inbound toward a home host:
//  - ECN: SYN with ECE+CWR plus something no ECN client sends (a reserved
//    header bit, an urgent pointer without URG, odd options), or ECE or CWR
//    alone on a SYN carrying options (first-generation nmap's "bogus flag");
//  - flagless segment carrying options (nmap T2);
//  - SYN together with FIN, PSH or URG, carrying options (T3);
//  - lone ACK carrying options that only a SYN may carry (mss, wscale,
//    sackOK) outside an established connection (T4, T6);
//  - FIN|PSH|URG carrying options (T7);
//  - UDP whose payload (>= 64 bytes) repeats one byte, unanswered (U1: 300 x 'C');
//  - ICMP echo request with a non-zero code (IE: code 9);
//  - SYN whose options no stack builds: first option not MSS, window < 256,
//    MSS < 500, timestamp 0xFFFFFFFF, wscale > 14, reserved bits, or the
//    seed's set (wscale 10, nop, mss 265, timestamp, eol) (SEQ, T5);
//  - ISN sampling: the prober answers the target's SYN-ACK with a bare RST
//    (its kernel never knew the connection: a raw-socket SYN), >= 4 times on
//    the same port within 3 s.
// Ordinary ECN clients (SYN|ECE|CWR with mss, sackOK, ts, nop, wscale) match
// none of these; a NULL/XMAS/flag scan without options is flag-anomaly's.
//
// Host-behaviour: the flow shards classify and send one event per probe; the
// host shard keeps one incident per (source, target). The first alert goes out
// as soon as >= min_types types fall within `window`; types that arrive later
// are summarised in one update once the prober has been quiet for `settle`.
#include <algorithm>
#include <bit>
#include <cstdio>
#include <initializer_list>

#include "detectors/incident_detector.h"

namespace harrier {
namespace {

constexpr ParamSpec kParams[] = {
    {"window", ParamType::kSeconds, 1, 600, 10,
     "seconds within which the probe types must fall to count as one probe set"},
    {"min_types", ParamType::kCount, 2, 9, 2, "distinct probe types that make a probe set"},
    {"isn_samples", ParamType::kCount, 2, 8, 4,
     "bare resets to SYN-ACKs on one port that make an ISN-sampling series"},
    {"isn_window", ParamType::kSeconds, 0.1, 60, 3, "seconds within which those resets must fall"},
    {"settle", ParamType::kSeconds, 0.1, 600, 2,
     "seconds without a new probe type before an update reports the completed set"},
    max_updates_param(4, "update alerts per incident"),
    hold_down_param(3600, 604800,
                    "seconds of silence after which the same pair starts a new incident"),
    table_size_param(16384, "(source, target) pairs remembered, all shards together"),
};

enum Type : uint8_t {
  kEcn = 0,
  kFlagless,
  kSynFpu,
  kLoneAck,
  kFpuOpts,
  kUdpFill,
  kEchoCode,
  kOddSyn,
  kIsnSample,
  kTypes,
};
constexpr const char* kTypeIds[kTypes] = {"ecn",       "flagless_options", "syn_fin_psh_urg",
                                          "lone_ack",  "fin_psh_urg",      "udp_fill",
                                          "echo_code", "odd_syn_options",  "isn_sampling"};
// As the analyst would list them; nmap's own test names when it is nmap -O.
constexpr const char* kTypeNames[kTypes] = {"ECN",       "flagless",    "SYN|FIN|PSH|URG",
                                            "lone ACKs", "FIN|PSH|URG", "UDP fill",
                                            "echo code", "odd SYNs",    "ISN sampling"};
constexpr const char* kNmap2Tests[kTypes] = {"",    "T2 ", "T3 ",  "T4/T6 ", "T7 ",
                                             "U1 ", "IE ", "SEQ ", ""};

// Event `code`: the type in the low nibble, markers in the high one.
constexpr uint8_t kMarkGen1 = 0x10;  // the seed's option set (wscale 10, nop, mss 265, ts, eol)
constexpr uint8_t kMarkGen2 = 0x20;  // today's nmap: ts 0xFFFFFFFF, its ECN set, IE code 9 seq 295
constexpr uint8_t kMarkOpts = 0x40;  // a TCP probe with options: its TcpProbe carries them
constexpr uint8_t kMarkSynLike = 0x80;  // a SYN probe: its answer tells open from closed

// A TCP probe event's detail: its window, MSS (0: none) and options (pack_options).
struct TcpProbe {
  uint16_t window, mss;
  uint32_t options;
};
// A UDP fill probe event's detail: its payload length and the byte it repeats.
struct UdpProbe {
  uint16_t length;
  uint8_t fill;
};
// An echo-code probe event's detail: the request's ICMP code.
struct EchoProbe {
  uint8_t code;
};

constexpr uint8_t kKindEol = 0, kKindNop = 1, kKindMss = 2, kKindWscale = 3, kKindSackOk = 4,
                  kKindTs = 8;

// Option kinds in order, 7 nibbles of (kind + 1, capped at 15); the top
// nibble holds wscale (capped at 15). Zero nibble = no more options.
uint32_t pack_options(const TcpOptions& o) noexcept {
  uint32_t r = 0;
  for (int i = 0; i < std::min<int>(o.count, 7); ++i)
    r |= uint32_t(std::min<uint8_t>(o.kinds[i], 14) + 1) << (4 * i);
  return r | uint32_t(std::min<uint8_t>(o.has_wscale ? o.wscale : 0, 15)) << 28;
}

bool kinds_are(const TcpOptions& o, std::initializer_list<uint8_t> want) noexcept {
  if (o.count < want.size()) return false;
  size_t i = 0;
  for (uint8_t k : want)
    if (o.kinds[i++] != k) return false;
  return true;
}

// The seed's first-generation nmap set: wscale 10, nop, mss 265, timestamp, eol.
bool gen1_options(const TcpOptions& o) noexcept {
  return kinds_are(o, {kKindWscale, kKindNop, kKindMss, kKindTs}) && o.wscale == 10 && o.mss == 265;
}

// Second-generation nmap: every SEQ and T probe carries timestamp
// 0xFFFFFFFF 0; the ECN probe carries wscale 10, nop, mss 1460, sackOK, nop, nop.
bool gen2_options(const TcpOptions& o) noexcept {
  if (o.has_timestamp && o.ts_val == 0xFFFFFFFFu && o.ts_ecr == 0) return true;
  return kinds_are(o, {kKindWscale, kKindNop, kKindMss, kKindSackOk, kKindNop, kKindNop}) &&
         o.count == 6 && o.wscale == 10;
}

// A SYN no stack builds. Real stacks put MSS first, offer a window of
// thousands, an MSS near the path MTU, a random timestamp and wscale <= 14.
bool odd_syn(const PacketView& v) noexcept {
  const TcpOptions& o = v.tcp_opts;
  if (o.count == 0) return false;
  return o.kinds[0] != kKindMss || v.tcp_window < 256 || (o.has_mss && o.mss < 500) ||
         (o.has_timestamp && o.ts_val == 0xFFFFFFFFu) || (o.has_wscale && o.wscale > 14) ||
         (v.tcp_flags & tcp_flag::kReserved) || gen1_options(o);
}

// Options RFC 793/7323/2018 allow on a SYN only.
bool syn_only_options(const TcpOptions& o) noexcept {
  return o.has_mss || o.has_wscale || o.has_sack_ok;
}

bool same_byte_fill(const uint8_t* p, uint16_t n) noexcept {
  for (uint16_t i = 1; i < n; ++i)
    if (p[i] != p[0]) return false;
  return true;
}

constexpr uint16_t kMinFill = 64;

// Classifies one TCP packet from the flow's initiator toward a home host;
// kTypes = not a probe.
Type classify_tcp(const PacketCtx& p) noexcept {
  using namespace tcp_flag;
  const PacketView& v = *p.v;
  const uint16_t f = v.tcp_flags;
  const uint16_t ctl = f & 0x3F;
  const bool opts = v.tcp_opts.count > 0;
  const bool syn = f & kSyn, ack = f & kAck, rst = f & kRst;
  if (syn && !ack && !rst) {
    if (f & (kFin | kPsh | kUrg)) return opts ? kSynFpu : kTypes;
    const bool ece = f & kEce, cwr = f & kCwr;
    if (ece && cwr) {
      const bool odd = (f & kReserved) || (v.tcp_urgent != 0 && !(f & kUrg)) || odd_syn(v);
      return odd ? kEcn : kTypes;  // otherwise RFC 3168 ECN setup
    }
    if (ece || cwr) return opts ? kEcn : kTypes;
    return odd_syn(v) ? kOddSyn : kTypes;
  }
  if (ctl == 0) return opts ? kFlagless : kTypes;
  if (ctl == kAck) {
    if (v.payload_len != 0 || !syn_only_options(v.tcp_opts)) return kTypes;
    const bool in_connection = p.flow && (p.flow->tcp_state == TcpState::kEstablished ||
                                          p.flow->tcp_state == TcpState::kClosing);
    return in_connection && !p.flow_created ? kTypes : kLoneAck;
  }
  if (ctl == (kFin | kPsh | kUrg)) return opts ? kFpuOpts : kTypes;
  if (ctl == kRst && p.flow && p.flow->syn_count > 0) return kIsnSample;  // checked by caller
  return kTypes;
}

// The flags classify_tcp can give a type to (whatever the rest of the
// packet): the TCP part of this detector's packet interest.
bool flags_may_classify(uint16_t f) noexcept {
  using namespace tcp_flag;
  const uint16_t ctl = f & 0x3F;
  if ((f & kSyn) && !(f & kAck) && !(f & kRst)) return true;
  return ctl == 0 || ctl == kAck || ctl == (kFin | kPsh | kUrg) || ctl == kRst;
}

// A reset looks back through the whole burst (at most one batch) for the
// SYN-ACK it answers: a fixed window would reach less far the fewer workers
// share a batch, and results must not depend on the worker count. Only bare
// resets from an initiator toward a home host pay for it.

// Whether the bare RST pkts[i] is the prober's kernel resetting a SYN-ACK to
// a SYN it never sent through its own socket layer: RFC 793 makes that RST's
// seq the SYN-ACK's ack, and nothing of the prober's comes in between (a
// real client completes the handshake first). The flow table holds the
// state at the end of the burst, so the burst itself is searched first;
// when the answer came in an earlier burst, the flow's SYN tells.
bool isn_reset(std::span<const PacketCtx> pkts, size_t i) noexcept {
  const PacketCtx& p = pkts[i];
  for (size_t j = i; j-- > 0;) {
    const PacketCtx& q = pkts[j];
    if (q.flow != p.flow || !q.decoded) continue;
    if (q.from_initiator) return false;
    return (q.v->tcp_flags & 0x3F) == (tcp_flag::kSyn | tcp_flag::kAck) &&
           q.v->tcp_ack == p.v->tcp_seq;
  }
  const FlowEntry& f = *p.flow;
  return f.responder_replied && p.v->tcp_seq == f.syn_isn + 1;
}

constexpr int kMaxPorts = 6;
constexpr int kMaxWindows = 8;
constexpr int kMaxIsn = 8;

struct Entry : KitEntry {
  uint64_t last_seen;  // last event of any kind, counted or not
  uint64_t type_first[kTypes];
  uint64_t type_last[kTypes];
  uint32_t type_count[kTypes];
  uint16_t mask;           // types seen in this incident
  uint16_t reported_mask;  // types the last alert carried
  uint8_t markers;
  uint8_t ttl_first, ttl_min, ttl_max;
  uint16_t first_sport, first_dport;
  uint8_t first_proto;
  uint16_t flags_union;
  uint32_t probes;
  // ISN sampling: bare resets on one port, the last kMaxIsn times.
  uint16_t isn_dport;
  uint32_t isn_n;
  uint64_t isn_ts[kMaxIsn];
  // Ports touched: port | udp << 16 | open << 17 | closed << 18 | SYN-probed << 19.
  uint32_t ports[kMaxPorts];
  uint8_t n_ports;
  uint16_t ports_total;
  uint16_t windows[kMaxWindows];
  uint8_t n_windows;
  uint16_t windows_total;
  // The first probe that carried options.
  bool have_opts;
  uint8_t opts_type;
  uint32_t opts_packed;
  uint16_t opts_mss;
  uint16_t opts_window;
  uint8_t echo_code;
  uint8_t udp_fill;
  uint16_t udp_len;
  uint64_t update_due;  // 0: no update pending (else on the SettleList)
};

constexpr uint32_t kPortUdp = 1u << 16, kPortOpen = 1u << 17, kPortClosed = 1u << 18,
                   kPortSynProbed = 1u << 19;

// What an alert carries beyond the shared fields (see emit).
struct Detail {
  uint32_t probes;
  uint32_t ports[kMaxPorts];      // port | kPortUdp | kPortOpen | kPortClosed | kPortSynProbed
  uint16_t windows[kMaxWindows];  // distinct TCP windows, first seen first
  uint16_t mask;                  // types seen (bit per Type)
  uint8_t type_count[kTypes];     // probes per type, saturating at 255
  uint8_t order[kTypes];          // the types seen, in first-seen order
  uint8_t n_ports, n_windows, n_types;
  uint8_t generation;  // 1: first-generation nmap, 2: second, 0: unknown
  uint8_t opts_type;   // type of the first probe with options (kTypes: none)
  uint8_t echo_code;
  uint8_t udp_fill;  // 0 when no UDP fill probe
  uint8_t ttl_min, ttl_max;
  uint16_t opts_mss;     // the first probe with options: its MSS ...
  uint32_t opts_packed;  // ... and its options (pack_options)
};

// Time since `then`; zero when packet time went backwards (merged captures).
uint64_t age(uint64_t now, uint64_t then) noexcept {
  return now > then ? now - then : 0;
}

PairKey pair_key(const IpAddr& src, const IpAddr& dst) noexcept {
  return PairKey::make(src, &dst, 0, 0, 0);
}

// The kit's SettleList holds the incidents whose update waits for the
// prober to settle (a probe set still growing), by due time.
class OsFingerprint final : public IncidentDetector<OsFingerprint, Entry> {
 public:
  OsFingerprint(const DetectorDescriptor& d, const DetectorConfig& c)
      : IncidentDetector(d, c, "osfp", /*closing_update=*/false),
        window_ns_(uint64_t(c.get("window") * 1e9)),
        min_types_(uint32_t(c.get("min_types"))),
        isn_samples_(uint32_t(c.get("isn_samples"))),
        isn_window_ns_(uint64_t(c.get("isn_window") * 1e9)),
        settle_ns_(uint64_t(c.get("settle") * 1e9)) {}

  // Its own probe events, and how the target answered (open, refused).
  EventInterest event_interest() const override {
    return {EventInterest::bit(HostEventKind::kOpen) | EventInterest::bit(HostEventKind::kRefused),
            true};
  }

  PacketInterest packet_interest() const override {
    PacketInterest in;  // probes toward home hosts: odd TCP, filled UDP, echo with a code
    in.classes =
        class_bit(PacketClass::kTcp) | class_bit(PacketClass::kUdp) | class_bit(PacketClass::kIcmp);
    in.all_facts = packet_fact::kDstHome;
    in.tcp_flags = flags_may_classify;
    return in;
  }

  void on_packets(ShardCtx& ctx, PacketSelection pkts, DetectorState*) const noexcept override {
    for (const uint16_t i : pkts.picked) {
      const PacketCtx& p = pkts.all[i];
      if (!p.decoded || !p.dst_home || p.v->is_later_fragment || p.v->is_icmp_error()) continue;
      const PacketView& v = *p.v;
      HostEvent e = own_event(p);
      Type type = kTypes;
      uint8_t markers = 0;
      if (v.proto == L4Proto::kTcp) {
        if (p.flow && !p.from_initiator) continue;  // the target's answers
        type = classify_tcp(p);
        if (type == kTypes || (type == kIsnSample && !isn_reset(pkts.all, i))) continue;
        const TcpOptions& o = v.tcp_opts;
        if (o.count > 0 && type != kIsnSample) {
          markers |= kMarkOpts;
          if (gen1_options(o)) markers |= kMarkGen1;
          if (gen2_options(o)) markers |= kMarkGen2;
        }
        if ((v.tcp_flags & tcp_flag::kSyn) || type == kIsnSample) markers |= kMarkSynLike;
        e.detail.put(TcpProbe{v.tcp_window, o.has_mss ? o.mss : uint16_t(0), pack_options(o)});
      } else if (v.proto == L4Proto::kUdp) {
        if (p.flow && (!p.from_initiator || p.flow->pkts[1] != 0)) continue;  // answered: open
        if (v.payload_len < kMinFill || !same_byte_fill(v.payload, v.payload_len)) continue;
        type = kUdpFill;
        e.detail.put(UdpProbe{v.payload_len, v.payload[0]});
      } else if ((v.proto == L4Proto::kIcmp && v.icmp_type == 8) ||
                 (v.proto == L4Proto::kIcmp6 && v.icmp_type == 128)) {
        if (v.icmp_code == 0) continue;
        type = kEchoCode;
        if (v.icmp_code == 9 && v.icmp_seq == 295) markers |= kMarkGen2;
        e.detail.put(EchoProbe{v.icmp_code});
      } else {
        continue;
      }
      if (p.src_home) e.flags |= host_event_flag::kSrcHome;
      e.code = uint8_t(type | markers);
      ctx.events->emit(e, e.src);
    }
  }

  void on_events(ShardCtx& ctx, EventSelection events, DetectorState* st) const noexcept override {
    State& s = state(st);
    for (const HostEvent& ev : events) {
      if (ev.kind == HostEventKind::kOpen || ev.kind == HostEventKind::kRefused) {
        // How the target answered: open / closed evidence for ports probed.
        if (Entry* e = s.table->find(pair_key(ev.src, ev.dst)))
          mark_port(*e, ev.proto, ev.dport, ev.kind == HostEventKind::kOpen);
        continue;
      }
      const Type type = Type(ev.code & 0x0F);
      if (type >= kTypes) continue;
      bool fresh;
      Entry* e = incident(ctx, s, pair_key(ev.src, ev.dst), ev.ts, ev.order, &fresh,
                          /*activity=*/false);
      if (!e) continue;
      e->last_seen = ev.ts;

      // A bare reset is one ISN sample; only a series of them, fast and on
      // one port, is ISN sampling (a SYN scan resets each open port once).
      uint64_t first_ts = ev.ts;
      uint32_t n_new = 1;
      if (type == kIsnSample) {
        if (e->isn_n == 0 || e->isn_dport != ev.dport) e->isn_dport = ev.dport, e->isn_n = 0;
        e->isn_ts[e->isn_n % kMaxIsn] = ev.ts;
        ++e->isn_n;
        if (e->type_count[kIsnSample] == 0) {
          if (e->isn_n < isn_samples_) continue;
          first_ts = e->isn_ts[(e->isn_n - isn_samples_) % kMaxIsn];
          if (age(ev.ts, first_ts) > isn_window_ns_) continue;
          n_new = isn_samples_;
        }
      }

      const uint8_t markers = ev.code & 0xF0;
      if (e->probes == 0) {
        e->inc.first_ts = first_ts;
        e->ttl_min = 255;
        e->first_sport = ev.sport, e->first_dport = ev.dport, e->first_proto = ev.proto;
      }
      e->inc.first_ts = std::min(e->inc.first_ts, first_ts);
      e->inc.last_ts = ev.ts;
      e->last_order = ev.order;
      e->probes += n_new;
      e->markers |= markers & (kMarkGen1 | kMarkGen2);
      if (type != kIsnSample) {  // the prober's kernel made those resets, not the tool
        if (e->ttl_first == 0) e->ttl_first = ev.ttl;
        e->ttl_min = std::min(e->ttl_min, ev.ttl);
        e->ttl_max = std::max(e->ttl_max, ev.ttl);
      }
      record(*e, ev, type, markers);

      const bool new_type = e->type_count[type] == 0;
      if (new_type) {
        e->type_first[type] = first_ts;
        e->type_count[type] = n_new;
        e->mask |= uint16_t(1u << type);
      } else {
        ++e->type_count[type];
      }
      e->type_last[type] = ev.ts;

      if (e->inc.alerts_sent == 0) {
        uint32_t active = 0;
        for (int t = 0; t < kTypes; ++t)
          active += (e->mask >> t & 1) && age(ev.ts, e->type_last[t]) <= window_ns_;
        if (policy_.decide(e->inc, uint32_t(std::popcount(e->mask)), active >= min_types_)) {
          emit(ctx, *e, e->inc.last_ts, e->last_order);
          e->reported_mask = e->mask;
        }
      } else if (new_type && e->inc.alerts_sent <= policy_.max_updates) {
        // The set is still growing: report it whole once the prober settles.
        e->update_due = ev.ts + settle_ns_;
        if (!s.settle.add(s.table->index_of(e), e->inc, e->update_due))
          send_update(ctx, *e);  // no room to wait: report now
      }
    }
  }

  // Called by the kit.
  uint32_t amount(const Entry& e) const noexcept { return uint32_t(std::popcount(e.mask)); }
  // A new incident after the hold-down; before any alert, evidence older
  // than the window can no longer complete a set, so it starts over too.
  bool starts_new(const Entry& e, uint64_t ts) const noexcept {
    return policy_.starts_new(e.inc, ts) ||
           (e.inc.alerts_sent == 0 && e.last_seen != 0 && age(ts, e.last_seen) > window_ns_);
  }
  // A probe set's update whose settle time came.
  uint64_t settle(ShardCtx& ctx, uint64_t now, Entry& e) const noexcept {
    if (e.update_due == 0) return 0;
    if (now < e.update_due) return e.update_due;
    send_update(ctx, e);
    return 0;
  }

 private:
  static void mark_port(Entry& e, uint8_t proto, uint16_t port, bool answered) noexcept {
    const uint32_t want = port | (proto == 17 ? kPortUdp : 0);
    for (uint8_t i = 0; i < e.n_ports; ++i) {
      if ((e.ports[i] & 0x1FFFF) != want) continue;
      // An answered SYN (or UDP reply) means open; a refusal only counts as
      // closed for a port that got a SYN or UDP probe (ACK probes get RSTs
      // from open ports too), and never overrides open.
      if (answered)
        e.ports[i] = (e.ports[i] & ~kPortClosed) | kPortOpen;
      else if (!(e.ports[i] & kPortOpen) && (e.ports[i] & (kPortSynProbed | kPortUdp)))
        e.ports[i] |= kPortClosed;
      return;
    }
  }

  static void record(Entry& e, const HostEvent& ev, Type type, uint8_t markers) noexcept {
    if (ev.proto == 6 || ev.proto == 17) {
      const uint32_t want = ev.dport | (ev.proto == 17 ? kPortUdp : 0);
      int found = -1;
      for (uint8_t i = 0; i < e.n_ports; ++i)
        if ((e.ports[i] & 0x1FFFF) == want) found = i;
      if (found < 0 && e.ports_total < UINT16_MAX) ++e.ports_total;
      if (found < 0 && e.n_ports < kMaxPorts) found = e.n_ports++, e.ports[found] = want;
      if (found >= 0 && (markers & kMarkSynLike)) e.ports[found] |= kPortSynProbed;
    }
    if (ev.proto == 6) {
      const TcpProbe tcp = ev.detail.get<TcpProbe>();
      e.flags_union |= ev.tcp_flags;
      const uint16_t win = tcp.window;
      if (type != kIsnSample) {
        bool seen = false;
        for (uint8_t i = 0; i < e.n_windows; ++i)
          seen = seen || e.windows[i] == win;
        if (!seen && e.windows_total < UINT16_MAX) ++e.windows_total;
        if (!seen && e.n_windows < kMaxWindows) e.windows[e.n_windows++] = win;
      }
      if ((markers & kMarkOpts) && !e.have_opts) {
        e.have_opts = true;
        e.opts_type = type;
        e.opts_packed = tcp.options;
        e.opts_mss = tcp.mss;
        e.opts_window = win;
      }
    } else if (type == kUdpFill && e.udp_len == 0) {
      const UdpProbe udp = ev.detail.get<UdpProbe>();
      e.udp_len = udp.length;
      e.udp_fill = udp.fill;
    } else if (type == kEchoCode && e.echo_code == 0) {
      e.echo_code = ev.detail.get<EchoProbe>().code;
    }
  }

  void send_update(ShardCtx& ctx, Entry& e) const noexcept {
    e.update_due = 0;
    if (e.mask == e.reported_mask || e.inc.alerts_sent > policy_.max_updates) return;
    ++e.inc.alerts_sent;
    emit(ctx, e, e.inc.last_ts, e.last_order);
    e.reported_mask = e.mask;
  }

 public:  // called by the kit
  // Beside the Detail: ttl the first probe's TTL; tcp_flags all TCP flags
  // the probes used; sport/dport the first probe's ports.
  void fill(ShardCtx& ctx, Alert* a, const Entry& e) const noexcept {
    const IpAddr dst = e.key.second();
    a->proto = e.first_proto;
    a->dst = dst;
    a->sport = e.first_sport, a->dport = e.first_dport;
    const uint8_t proto = e.first_proto == 17 ? 17 : 6;
    a->score = ctx.score(dst, proto, e.first_dport, cfg_.lethality);
    Detail d{};
    d.probes = e.probes;
    d.n_ports = e.n_ports;
    std::copy(e.ports, e.ports + e.n_ports, d.ports);
    d.n_windows = e.n_windows;
    std::copy(e.windows, e.windows + e.n_windows, d.windows);
    d.mask = e.mask;
    for (int t = 0; t < kTypes; ++t)
      d.type_count[t] = uint8_t(std::min<uint32_t>(e.type_count[t], 255));
    for (int t = 0; t < kTypes; ++t)
      if (e.mask >> t & 1) d.order[d.n_types++] = uint8_t(t);
    // First-seen order (insertion sort: at most 9 types).
    for (uint32_t i = 1; i < d.n_types; ++i)
      for (uint32_t j = i; j > 0 && e.type_first[d.order[j]] < e.type_first[d.order[j - 1]]; --j)
        std::swap(d.order[j], d.order[j - 1]);
    d.generation = (e.markers & kMarkGen2) ? 2 : (e.markers & kMarkGen1) ? 1 : 0;
    d.opts_type = e.have_opts ? e.opts_type : uint8_t(kTypes);
    d.echo_code = e.echo_code;
    d.udp_fill = e.udp_len ? e.udp_fill : 0;
    d.ttl_min = e.ttl_min, d.ttl_max = e.ttl_max;
    d.opts_packed = e.have_opts ? e.opts_packed : 0;
    d.opts_mss = e.opts_mss;
    a->detail.put(d);
    a->ttl = e.ttl_first;
    a->tcp_flags = e.flags_union;
    a->n_targets = 1;
    a->targets[0] = dst;
    a->target_order = TargetOrder::kSingle;
  }

 private:
  uint64_t window_ns_;
  uint32_t min_types_;
  uint32_t isn_samples_;
  uint64_t isn_window_ns_;
  uint64_t settle_ns_;
};

std::string options_text(uint32_t packed, uint16_t mss) {
  std::string s;
  for (int i = 0; i < 7; ++i) {
    const uint32_t nib = packed >> (4 * i) & 0xF;
    if (nib == 0) break;
    const uint32_t kind = nib - 1;
    if (!s.empty()) s += ",";
    switch (kind) {
      case kKindEol:
        s += "eol";
        break;
      case kKindNop:
        s += "nop";
        break;
      case kKindMss:
        s += "mss " + std::to_string(mss);
        break;
      case kKindWscale:
        s += "wscale " + std::to_string(packed >> 28);
        break;
      case kKindSackOk:
        s += "sackOK";
        break;
      case kKindTs:
        s += "timestamp";
        break;
      default:
        s += "kind " + std::to_string(kind);
        break;
    }
  }
  return s;
}

void render(const Alert& a, AlertText& t) {
  const Detail d = a.detail.get<Detail>();
  const uint32_t mask = d.mask;
  const uint32_t gen = d.generation;
  std::string list;
  auto types = nlohmann::ordered_json::array();
  auto counts = nlohmann::ordered_json::object();
  const uint32_t n_types = std::min<uint32_t>(d.n_types, kTypes);
  for (uint32_t i = 0; i < n_types; ++i) {
    const uint32_t ty = d.order[i];
    std::string name = std::string(gen == 2 ? kNmap2Tests[ty] : "") + kTypeNames[ty];
    // First-generation nmap set ECE alone (its "bogus flag"), not ECE+CWR.
    if (ty == kEcn && !(a.tcp_flags & tcp_flag::kCwr)) name = "SYN|ECE";
    if (ty == kEchoCode) name += " " + std::to_string(d.echo_code);
    list += (list.empty() ? "" : ", ") + name;
    types.push_back(kTypeIds[ty]);
    counts[kTypeIds[ty]] = uint32_t(d.type_count[ty]);
  }
  const char* label = gen == 2   ? "OS fingerprint attempt (nmap -O, 2nd generation)"
                      : gen == 1 ? "OS fingerprint attempt (nmap, 1st generation)"
                                 : "OS fingerprint probe set";
  const double span = span_seconds(a.first_ts, a.last_ts);
  t.signature = std::string(label) + ": " + std::to_string(n_types) + " probe types against " +
                ip_to_string(a.dst) + " in " + format_seconds(span) + ": " + list +
                update_suffix(a);

  auto& e = t.evidence;
  e["generation"] = gen == 2 ? "nmap-2nd" : gen == 1 ? "nmap-1st" : "unknown";
  e["probe_types"] = types;
  e["counts"] = counts;
  e["probes"] = d.probes;
  e["isn_samples"] = uint32_t(d.type_count[kIsnSample]);
  auto ports = nlohmann::ordered_json::array();
  for (uint32_t i = 0; i < std::min<uint32_t>(d.n_ports, kMaxPorts); ++i) {
    const uint32_t p = d.ports[i];
    ports.push_back({{"port", p & 0xFFFF},
                     {"proto", (p & kPortUdp) ? "udp" : "tcp"},
                     {"state", (p & kPortOpen)     ? "open"
                               : (p & kPortClosed) ? "closed"
                                                   : "unknown"}});
  }
  e["ports"] = ports;
  auto windows = nlohmann::ordered_json::array();
  for (uint32_t i = 0; i < std::min<uint32_t>(d.n_windows, kMaxWindows); ++i)
    windows.push_back(d.windows[i]);
  e["windows"] = windows;
  if (a.ttl) e["ttl"] = {{"first", a.ttl}, {"min", d.ttl_min}, {"max", d.ttl_max}};
  e["flags"] = format_tcp_flags(a.tcp_flags);
  if (d.opts_type < kTypes) {
    e["first_options"] = {{"probe", kTypeIds[d.opts_type]},
                          {"options", options_text(d.opts_packed, d.opts_mss)}};
  }
  if (mask >> kEchoCode & 1) e["echo_code"] = d.echo_code;
  if (mask >> kUdpFill & 1) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "0x%02x", d.udp_fill);
    e["udp_fill"] = buf;
  }
  e["first_seen"] = eve_timestamp(a.first_ts);
  e["last_seen"] = eve_timestamp(a.last_ts);
  e["update"] = a.update;
}

}  // namespace

extern const DetectorDescriptor kOsFingerprint = {
    "os-fingerprint",
    1000011,
    DetectorKind::kHostBehaviour,
    "Attempted Information Leak",
    "OS fingerprinting probe sets (nmap -O, first and second generation): >= 2 probe types "
    "(odd-option SYNs, ECN, flagless, SYN|FIN|PSH|URG, lone ACKs, FIN|PSH|URG, UDP fill, "
    "echo code, ISN sampling) from one source to one host within 10 s",
    3,
    kParams,
    make_detector<OsFingerprint>,
    render,
    {"An OS fingerprinter sends a fixed set of probes that RFC 793 leaves undefined or that no "
     "stack would build (no flags, SYN with FIN/PSH/URG, lone ACKs, odd windows and option "
     "orders, ECN with a reserved bit, a closed UDP port, an echo request with a non-zero code) "
     "and samples the target's ISN generator with a quick SYN / SYN-ACK / RST series. Each "
     "stack answers these in its own way (which options and window it returns, whether it "
     "answers at all, how its ISNs and IP IDs grow, what an ICMP error quotes), and the "
     "combination names the operating system and often its version: reconnaissance for a "
     "targeted exploit.",
     "Unlikely: the fingerprint is built from the target's answers, so the prober must receive "
     "them and the source address is real (or a host the prober controls).",
     "Normalise traffic at the edge (a scrubbing firewall drops flagless, SYN|FIN and lone-ACK "
     "segments outside a connection, strips reserved bits, randomises or rewrites options), do "
     "not answer closed UDP ports or odd ICMP from outside, and look at the source's other "
     "traffic: an OS fingerprint usually follows a port scan and precedes an exploit for the OS "
     "it found."},
    /*incident_is_victim=*/false,
    fusion_rank::kPurpose};

}  // namespace harrier
