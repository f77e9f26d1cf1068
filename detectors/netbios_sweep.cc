// netbios-sweep (seed detect 1): one source sending NetBIOS name-service
// queries (UDP 137, opcode QUERY; name or node-status questions) to many home
// hosts. Default: >= 5 distinct hosts within 1 h. The evidence gives the
// order the hosts were tried in, the queries each got (Windows resends an
// unanswered query three times) and how many hosts answered.
//
// Quiet on a host resolving names against its own WINS server: that is one
// target, however many names it asks for. A broadcast query is one target
// too (the broadcast address).
//
// Host-behaviour: the flow shards parse NBNS and send one event per query
// (keyed by the querier) and per answer from a queried home host (keyed by
// the querier it answers); the host shard keeps one incident per querier.
#include <algorithm>
#include <cstring>

#include "detectors/incident_detector.h"
#include "detectors/protocols/nbns.h"

namespace harrier {
namespace {

constexpr ParamSpec kParams[] = {
    {"min_hosts", ParamType::kCount, 2, 64, 5, "distinct home hosts queried within window"},
    {"window", ParamType::kSeconds, 1, 604800, 3600, "seconds for min_hosts"},
    max_updates_param(4, "update alerts per incident (when the host count doubles)"),
    hold_down_param(3600, 604800, "seconds of silence after which a source starts anew"),
    table_size_param(16384, "querying sources remembered, all shards together"),
};

enum Code : uint8_t { kQuery = 1, kAnswer = 2 };

struct Entry : KitEntry {
  TargetList<64> targets;
  uint64_t answered;  // bit per listed target that answered
  uint32_t queries;
  uint16_t first_sport;
  uint16_t qtype;
  uint8_t ttl;
  uint8_t suffix;
  char name[4];  // the first query's name, its first four characters
};

// What a query event carries from the flow stage: its question, and the
// first four characters of the name (the rest is not needed to judge a sweep,
// and the event stays small).
struct EventDetail {
  uint16_t qtype;
  uint8_t suffix;
  char name_head[4];
};

// What an alert carries beyond the shared fields.
struct Detail {
  uint32_t queries;
  uint32_t hits_lo, hits_hi;  // fewest and most queries a listed host got
  uint32_t answered;          // listed hosts that answered
  uint16_t qtype;
  uint8_t suffix;
  uint8_t n_hits;
  char name_head[4];                  // the first query's name, its first four characters
  uint32_t hits[Alert::kMaxTargets];  // queries per listed host, in order of first query
};

class NetbiosSweep final : public IncidentDetector<NetbiosSweep, Entry> {
 public:
  NetbiosSweep(const DetectorDescriptor& d, const DetectorConfig& c)
      : IncidentDetector(d, c, "nbsweep"),
        min_hosts_(uint32_t(c.get("min_hosts"))),
        window_ns_(uint64_t(c.get("window") * 1e9)) {}

  PacketInterest packet_interest() const override { return nbns::packet_interest(); }

  void on_packets(ShardCtx& ctx, PacketSelection pkts, DetectorState*) const noexcept override {
    for (const PacketCtx& p : pkts) {
      if (!p.decoded || p.v->proto != L4Proto::kUdp || p.v->is_later_fragment) continue;
      const PacketView& v = *p.v;
      nbns::Message m;
      const nbns::Direction dir =
          nbns::classify(v.payload, v.payload_len, v.sport, v.dport, p.src_home, p.dst_home, m);
      if (dir == nbns::Direction::kNone) continue;
      const bool query = dir == nbns::Direction::kQueryToHome;
      if (query && (m.qtype != nbns::kTypeNb && m.qtype != nbns::kTypeNbstat)) continue;
      HostEvent e = own_event(p);
      e.code = query ? kQuery : kAnswer;
      // Always querier -> queried, so an answer meets its query's incident.
      e.src = query ? v.src : v.dst;
      e.dst = query ? v.dst : v.src;
      e.sport = query ? v.sport : v.dport;
      e.dport = 137;
      EventDetail d{m.qtype, m.suffix, {}};
      std::memcpy(d.name_head, m.name, sizeof d.name_head);
      e.detail.put(d);
      ctx.events->emit(e, e.src);
    }
  }

  void on_events(ShardCtx& ctx, EventSelection events, DetectorState* st) const noexcept override {
    State& s = state(st);
    for (const HostEvent& ev : events) {
      const PairKey k = PairKey::make(ev.src, nullptr, 17, 137);
      if (ev.code == kAnswer) {
        if (Entry* e = s.table->find(k)) {
          const int i = e->targets.find(ev.dst);
          if (i >= 0) e->answered |= uint64_t(1) << i;
        }
        continue;
      }
      bool fresh;
      Entry* e = incident(ctx, s, k, ev.ts, ev.order, &fresh);
      if (!e) continue;
      if (fresh) {
        e->first_sport = ev.sport;
        e->ttl = ev.ttl;
        const EventDetail d = ev.detail.get<EventDetail>();
        e->qtype = d.qtype;
        e->suffix = d.suffix;
        std::memcpy(e->name, d.name_head, sizeof d.name_head);
      }
      ++e->queries;
      if (!e->targets.add(ev.dst, ev.ts)) continue;  // a retry: evidence, not a new host
      const uint64_t since = ev.ts > window_ns_ ? ev.ts - window_ns_ : 0;
      grew(ctx, s, *e, e->targets.count_since(since) >= min_hosts_, ev.ts, ev.order);
    }
  }

  uint32_t amount(const Entry& e) const noexcept { return e.targets.total; }
  uint64_t idle_ns() const noexcept { return std::max(window_ns_, policy_.hold_down_ns); }

  void fill(ShardCtx& ctx, Alert* a, const Entry& e) const noexcept {
    a->proto = 17;
    a->dst = e.targets.addr[0];
    a->sport = e.first_sport, a->dport = 137;
    a->score = ctx.score(a->dst, 17, 137, cfg_.lethality);
    e.targets.fill(*a);
    uint32_t lo = UINT32_MAX, hi = 0;
    for (uint32_t i = 0; i < e.targets.n; ++i)
      lo = std::min(lo, e.targets.hits[i]), hi = std::max(hi, e.targets.hits[i]);
    Detail d{};
    d.queries = e.queries;
    d.hits_lo = lo, d.hits_hi = hi;
    d.answered = uint32_t(__builtin_popcountll(e.answered));
    d.qtype = e.qtype, d.suffix = e.suffix;
    d.n_hits = uint8_t(std::min<uint32_t>(e.targets.n, Alert::kMaxTargets));
    for (uint32_t i = 0; i < d.n_hits; ++i)
      d.hits[i] = e.targets.hits[i];
    std::memcpy(d.name_head, e.name, sizeof d.name_head);
    a->detail.put(d);
    a->ttl = e.ttl;
  }

 private:
  uint32_t min_hosts_;
  uint64_t window_ns_;
};

std::string printable_name(const char (&head)[4]) {
  std::string s;
  for (const char c : head) {
    if (c == 0) break;
    s += (c >= 0x20 && c < 0x7F) ? c : '.';
  }
  while (!s.empty() && s.back() == ' ')
    s.pop_back();
  return s;
}

void render(const Alert& a, AlertText& t) {
  const Detail d = a.detail.get<Detail>();
  const uint32_t hosts = a.n_targets, queries = d.queries, lo = d.hits_lo, hi = d.hits_hi;
  const uint32_t answered = d.answered;
  const bool nbstat = d.qtype == nbns::kTypeNbstat;
  const double span = span_seconds(a.first_ts, a.last_ts);
  const std::string each = lo == hi ? format_count(lo) + (lo == 1 ? " query each" : " queries each")
                                    : format_count(lo) + "-" + format_count(hi) + " queries each";
  t.signature = std::string("NetBIOS ") + (nbstat ? "node-status" : "name-query") +
                " sweep: " + format_count(hosts) + " hosts in " + format_seconds(span) + ", " +
                target_order_name(a.target_order) + ", " + each +
                (answered ? ", " + format_count(answered) + " answered" : ", none answered") +
                update_suffix(a);
  auto& e = t.evidence;
  e["hosts"] = hosts;
  e["queries"] = queries;
  e["queries_per_host"] = {lo, hi};
  e["answered"] = answered;
  e["question"] = nbstat ? "NBSTAT" : "NB";
  e["name_prefix"] = printable_name(d.name_head);
  e["name_suffix"] = d.suffix;
  e["order"] = target_order_name(a.target_order);
  e["span_s"] = span;
  e["first_seen"] = eve_timestamp(a.first_ts);
  e["last_seen"] = eve_timestamp(a.last_ts);
  e["ttl"] = a.ttl;
  auto targets = nlohmann::ordered_json::array();
  auto per_host = nlohmann::ordered_json::array();
  for (uint32_t i = 0; i < std::min<uint32_t>(a.n_targets, Alert::kMaxTargets); ++i) {
    targets.push_back(ip_to_string(a.targets[i]));
    if (i < d.n_hits) per_host.push_back(d.hits[i]);
  }
  e["targets"] = targets;
  e["queries_by_target"] = per_host;
  e["targets_total"] = hosts;
  e["update"] = a.update;
}

}  // namespace

extern const DetectorDescriptor kNetbiosSweep = {
    "netbios-sweep",
    1000001,
    DetectorKind::kHostBehaviour,
    "Attempted Information Leak",
    "NetBIOS name-service queries (UDP 137) from one source to >= 5 home hosts within 1 h",
    5,
    kParams,
    make_detector<NetbiosSweep>,
    render,
    {"NetBIOS name service (UDP 137) answers name and node-status queries with the host's "
     "NetBIOS names, workgroup, logged-on user and MAC address. Querying host after host maps "
     "which machines run Windows file sharing and what they are called: the reconnaissance "
     "before password guessing on the shares, or the spread of a worm that uses them.",
     "Unlikely: the sweep is only useful if the answers come back, so the source is probably "
     "its real address (often an infected machine that is itself a victim).",
     "Block 137-139/udp+tcp and 445/tcp at the border; inside, disable NetBIOS over TCP/IP "
     "where it is not needed. Look at the hosts that answered: they disclosed their names."},
    /*incident_is_victim=*/false,
    fusion_rank::kProtocol};

}  // namespace harrier
