// netbios-wildcard ("Analyze This": SMB Name Wildcard): NBNS questions for
// the wildcard name '*' (encoded CKAAAA...) to home hosts, as the seed's
// Snort rule matches them: node-status queries (NBSTAT, what `nbtstat -A`
// and nbtscan ask) and name queries (`nmblookup '*'`), and whether the
// target answered. A node-status answer lists its names, workgroup,
// logged-on user and MAC address, so it is exposure; a name answer only
// confirms the host.
//
// Low severity by default: on a network that allows NetBIOS internally these
// queries are routine, and the inventory can lower them further.
//
// Host-behaviour: one incident per querier. The first alert waits for the
// target's answer, or `answer_grace` without one, so it says which; updates
// follow as the number of hosts queried doubles.
#include <algorithm>
#include <vector>

#include "detectors/incident_detector.h"
#include "detectors/protocols/nbns.h"

namespace harrier {
namespace {

constexpr ParamSpec kParams[] = {
    {"answer_grace", ParamType::kSeconds, 0.001, 60, 2,
     "seconds to wait for the target's answer before alerting without one"},
    max_updates_param(4, "update alerts per incident (when the host count doubles)"),
    hold_down_param(3600, 604800,
                    "seconds of silence after which the same querier starts a new incident"),
    table_size_param(16384, "queriers remembered, all shards together"),
};

enum Code : uint8_t { kQuery = 1, kAnswer = 2 };

// What the flow stage passes on of a query or an answer.
struct EventDetail {
  uint16_t qtype;
  uint8_t names;  // a node-status answer: names in its table
};

struct Entry : KitEntry {
  TargetList<16> targets;
  uint32_t queries;
  uint32_t name_queries;   // of those, name queries (the rest ask for node status)
  uint32_t answered;       // answers from queried hosts
  uint32_t tables;         // of those, node-status answers: name tables disclosed
  uint16_t answered_mask;  // bit per listed target that answered
  uint16_t first_sport;
  uint8_t ttl;
  uint8_t names;  // names in the first answer's table
  bool pending;   // first alert waits for an answer or the grace period (on the SettleList)
  uint64_t due;
  uint64_t first_order;
};

// The alert's own evidence.
struct Detail {
  uint32_t queries, name_queries, answered, tables;
  uint8_t names;
};

class NetbiosWildcard final : public IncidentDetector<NetbiosWildcard, Entry> {
 public:
  NetbiosWildcard(const DetectorDescriptor& d, const DetectorConfig& c)
      : IncidentDetector(d, c, "nbwild", /*closing_update=*/false),
        grace_ns_(uint64_t(c.get("answer_grace") * 1e9)) {}

  PacketInterest packet_interest() const override { return nbns::packet_interest(); }

  void on_packets(ShardCtx& ctx, PacketSelection pkts, DetectorState*) const noexcept override {
    for (const PacketCtx& p : pkts) {
      if (!p.decoded || p.v->proto != L4Proto::kUdp || p.v->is_later_fragment) continue;
      const PacketView& v = *p.v;
      nbns::Message m;
      const nbns::Direction dir =
          nbns::classify(v.payload, v.payload_len, v.sport, v.dport, p.src_home, p.dst_home, m);
      if (dir == nbns::Direction::kNone) continue;
      const bool query = dir == nbns::Direction::kQueryToHome, answer = !query;
      if (!m.wildcard || (m.qtype != nbns::kTypeNbstat && m.qtype != nbns::kTypeNb)) continue;
      HostEvent e = own_event(p);
      e.code = query ? kQuery : kAnswer;
      e.src = query ? v.src : v.dst;
      e.dst = query ? v.dst : v.src;
      e.sport = query ? v.sport : v.dport;
      e.dport = 137;
      const uint32_t names = answer && m.qtype == nbns::kTypeNbstat ? node_name_count(v) : 0;
      e.detail.put(EventDetail{m.qtype, uint8_t(std::min<uint32_t>(names, 255))});
      ctx.events->emit(e, e.src);
    }
  }

  void on_events(ShardCtx& ctx, EventSelection events, DetectorState* st) const noexcept override {
    State& s = state(st);
    for (const HostEvent& ev : events) {
      const PairKey k = PairKey::make(ev.src, nullptr, 17, 137);
      const EventDetail d = ev.detail.get<EventDetail>();
      if (ev.code == kAnswer) {
        Entry* e = s.table->find(k);
        const int i = e ? e->targets.find(ev.dst) : -1;
        if (i < 0) continue;
        s.table->touch(e, ev.ts);
        const bool first = !(e->answered_mask & (1u << i));
        if (first) {
          e->answered_mask |= uint16_t(1u << i);
          ++e->answered;
        }
        if (first && d.qtype == nbns::kTypeNbstat) {
          ++e->tables;
          if (!e->names) e->names = d.names;
        }
        if (e->pending) {
          e->pending = false;  // the answer settles the first alert: say so now
          grew(ctx, s, *e, true, ev.ts, ev.order);
        }
        continue;
      }
      bool fresh;
      Entry* e = incident(ctx, s, k, ev.ts, ev.order, &fresh);
      if (!e) continue;
      if (fresh) e->first_sport = ev.sport, e->ttl = ev.ttl;
      ++e->queries;
      if (d.qtype == nbns::kTypeNb) ++e->name_queries;
      e->targets.add(ev.dst, ev.ts);
      if (e->inc.alerts_sent) {
        grew(ctx, s, *e, true, ev.ts, ev.order);
      } else if (!e->pending) {
        e->pending = true;
        e->due = ev.ts + grace_ns_;
        e->first_order = ev.order;
        if (!s.settle.add(s.table->index_of(e), e->inc, e->due)) {
          e->pending = false;  // no room to wait: alert now, answer unknown
          grew(ctx, s, *e, true, ev.ts, ev.order);
        }
      }
    }
  }

  // Called by the kit.
  uint32_t amount(const Entry& e) const noexcept { return e.targets.total; }
  // A first alert whose grace passed without an answer.
  uint64_t settle(ShardCtx& ctx, uint64_t now, Entry& e) const noexcept {
    if (!e.pending) return 0;  // the answer came first and said so
    e.pending = false;
    const uint64_t at = std::min(now, e.due);
    if (policy_.decide(e.inc, e.targets.total, true, at)) emit(ctx, e, at, e.first_order);
    return 0;
  }

  void fill(ShardCtx& ctx, Alert* a, const Entry& e) const noexcept {
    a->proto = 17;
    a->dst = e.targets.addr[0];
    a->sport = e.first_sport, a->dport = 137;
    // An answered node-status query disclosed the host's names: one step
    // more lethal.
    a->score = ctx.score(a->dst, 17, 137, std::min(5, cfg_.lethality + (e.tables ? 1 : 0)));
    e.targets.fill(*a);
    a->detail.put(Detail{e.queries, e.name_queries, e.answered, e.tables, e.names});
    a->ttl = e.ttl;
  }

 private:
  // Names in an NBSTAT answer's table: the byte after the answer's RR header.
  // The question name is '*' (34 bytes), so the table starts at a fixed place.
  static uint32_t node_name_count(const PacketView& v) noexcept {
    constexpr uint32_t kAt = 12 + 34 + 2 + 2 + 4 + 2;
    return v.payload_len > kAt ? v.payload[kAt] : 0;
  }

  uint64_t grace_ns_;
};

void render(const Alert& a, AlertText& t) {
  const Detail d = a.detail.get<Detail>();
  const uint32_t hosts = a.n_targets, queries = d.queries, answered = d.answered;
  const uint32_t name_queries = d.name_queries, tables = d.tables;
  const std::string who = hosts == 1 ? ip_to_string(a.dst) : format_count(hosts) + " hosts";
  const char* question = name_queries == 0         ? "node status"
                         : name_queries == queries ? "name"
                                                   : "name and node status";
  const std::string what = name_queries == 0 ? "NetBIOS wildcard node-status query (nbtstat -A)"
                           : name_queries == queries
                               ? "NetBIOS wildcard name query (nmblookup '*')"
                               : "NetBIOS wildcard name and node-status queries";
  std::string outcome;
  if (answered == 0)
    outcome = hosts == 1 ? "no answer" : "none answered";
  else if (hosts == 1)
    outcome = tables ? "answered with its name table" +
                           (d.names ? " (" + std::to_string(d.names) + " names)" : std::string())
                     : std::string("answered");
  else
    outcome = format_count(answered) + " answered" + (tables ? " with their name tables" : "");
  t.signature = what + " to " + who + ": " + outcome + update_suffix(a);
  auto& e = t.evidence;
  e["hosts"] = hosts;
  e["queries"] = queries;
  e["question"] = question;
  e["answered"] = answered;
  e["exposed"] = tables > 0;  // a name table disclosed
  if (d.names) e["names_disclosed"] = d.names;
  e["first_seen"] = eve_timestamp(a.first_ts);
  e["last_seen"] = eve_timestamp(a.last_ts);
  e["ttl"] = a.ttl;
  e["targets"] = listed_targets(a);
  e["targets_total"] = hosts;
  e["update"] = a.update;
}

}  // namespace

extern const DetectorDescriptor kNetbiosWildcard = {
    "netbios-wildcard",
    1000016,
    DetectorKind::kHostBehaviour,
    "Attempted Information Leak",
    "NetBIOS node-status queries for the wildcard name '*', and whether the target answered",
    2,
    kParams,
    make_detector<NetbiosWildcard>,
    render,
    {"A node-status query for the name '*' asks a Windows host for its whole NetBIOS name "
     "table: computer name, workgroup or domain, logged-on user, the services it runs (the "
     "<20> file server suffix) and its MAC address. nbtstat -A and nbtscan send it; so do "
     "Windows machines browsing their own network, which is why it is low severity.",
     "Unlikely: the name table only reaches the asker, so the source is probably real.",
     "If the source is outside, block 137/udp at the border. Inside, decide whether NetBIOS "
     "is needed; if not, disable NetBIOS over TCP/IP so hosts stop answering, and lower this "
     "detector's score for the networks where it is routine via the inventory."},
    /*incident_is_victim=*/false,
    fusion_rank::kPurpose};

}  // namespace harrier
