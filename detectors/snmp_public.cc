// snmp-public ("Analyze This": SNMP public access): SNMP v1/v2c requests to
// 161/udp (and traps/informs to 162/udp) whose community string, parsed from
// the BER message, is a well-known default ("public", "private"). The PDU
// type is reported: a SetRequest with a default community can reconfigure
// the device, so it scores one step more lethal. SNMPv3 (no community) and
// any other community stay quiet.
//
// Host-behaviour: one incident per requester, so a sweep of 30 agents, or
// 'public' then 'private' on one agent, is one incident listing the agents
// and communities; each agent's answer (a Response with a default
// community) is recorded as exposure evidence.
#include <cstring>

#include "detectors/incident_detector.h"
#include "detectors/protocols/snmp.h"

namespace harrier {
namespace {

constexpr ParamSpec kParams[] = {
    max_updates_param(2, "update alerts per incident (when the agents double, or a first Set)"),
    hold_down_param(86400, 2592000, "seconds of silence after which a requester starts anew"),
    table_size_param(16384, "requesters remembered, all shards together"),
};

constexpr const char* kDefaults[] = {"public", "private"};

int default_community(const snmp::Message& m) {
  for (size_t i = 0; i < std::size(kDefaults); ++i)
    if (m.community_len == std::strlen(kDefaults[i]) && std::strcmp(m.community, kDefaults[i]) == 0)
      return int(i);
  return -1;
}

enum Code : uint8_t { kRequest = 1, kAnswer = 2 };

constexpr int kListed = 16;  // agents listed with their answers

struct Entry : KitEntry {
  uint32_t requests, answers;
  uint16_t pdu_mask;    // bit (pdu - 0xA0) per request PDU type seen
  uint8_t versions;     // bit per SNMP version (0: v1, 1: v2c)
  uint8_t communities;  // bit per kDefaults entry
  uint16_t first_sport, dport;
  TargetList<kListed> agents;
  PortCounter answered;  // distinct agents that answered (by address hash)
  uint8_t ttl;
  uint16_t ip_id;
};

// What an event carries from the flow stage: the parsed message.
struct EventDetail {
  uint8_t pdu;
  uint8_t community;  // index into kDefaults
  uint8_t version;    // 0: v1, 1: v2c
};

// What an alert carries beyond the shared fields.
struct Detail {
  uint32_t requests, answers;
  uint32_t agents_answered;  // distinct agents that answered (estimate)
  uint16_t pdu_mask;
  uint8_t versions, communities;
};

class SnmpPublic final : public IncidentDetector<SnmpPublic, Entry> {
 public:
  SnmpPublic(const DetectorDescriptor& d, const DetectorConfig& c)
      : IncidentDetector(d, c, "snmp") {}

  PacketInterest packet_interest() const override {
    PacketInterest in;  // requests to home agents and traps, their responses
    in.classes = class_bit(PacketClass::kUdp);
    in.any_facts = packet_fact::kSrcHome | packet_fact::kDstHome;
    in.ports = {161, 162};
    return in;
  }

  void on_packets(ShardCtx& ctx, PacketSelection pkts, DetectorState*) const noexcept override {
    for (const PacketCtx& p : pkts) {
      if (!p.decoded || p.v->proto != L4Proto::kUdp || p.v->is_later_fragment) continue;
      const PacketView& v = *p.v;
      const bool to_agent = (v.dport == 161 || v.dport == 162) && p.dst_home;
      const bool from_agent = v.sport == 161 && p.src_home;
      if (!to_agent && !from_agent) continue;
      snmp::Message m;
      if (!snmp::parse(v.payload, v.payload_len, m) || (m.version != 0 && m.version != 1)) continue;
      const int community = default_community(m);
      if (community < 0) continue;
      const bool response = m.pdu == uint8_t(snmp::Pdu::kResponse);
      if (to_agent == response) continue;  // requests go to the agent, responses come back
      HostEvent e = own_event(p);
      e.code = response ? kAnswer : kRequest;
      // Always requester -> agent, so both directions meet on one entry.
      e.src = response ? v.dst : v.src;
      e.dst = response ? v.src : v.dst;
      e.sport = response ? v.dport : v.sport;
      e.dport = response ? v.sport : v.dport;
      e.detail.put(EventDetail{m.pdu, uint8_t(community), uint8_t(m.version)});
      ctx.events->emit(e, e.src);
    }
  }

  void on_events(ShardCtx& ctx, EventSelection events, DetectorState* st) const noexcept override {
    State& s = state(st);
    Table& tab = *s.table;
    for (const HostEvent& ev : events) {
      const EventDetail d = ev.detail.get<EventDetail>();
      // Events may come from another process (a correlator's streams): a
      // community index past the bitmask is not one of ours.
      if (d.community >= 8) continue;
      const PairKey k = PairKey::make(ev.src, nullptr, 17, 0);
      if (ev.code == kAnswer) {
        if (Entry* e = tab.find(k)) {
          ++e->answers;
          e->answered.add(uint16_t(host_shard_of(ev.dst, 65536)));
          tab.touch(e, ev.ts);
        }
        continue;
      }
      bool fresh;
      Entry* e = incident(ctx, s, k, ev.ts, ev.order, &fresh);
      if (!e) continue;
      if (fresh) {
        e->first_sport = ev.sport, e->dport = ev.dport;
        e->ttl = ev.ttl, e->ip_id = ev.ip_id;
      }
      ++e->requests;
      e->agents.add(ev.dst, ev.ts);
      e->versions |= uint8_t(1u << (d.version & 1));
      e->communities |= uint8_t(1u << d.community);
      const uint16_t bit = uint16_t(1u << ((d.pdu - 0xA0u) & 0x0F));
      const bool new_set = (d.pdu == uint8_t(snmp::Pdu::kSet)) && !(e->pdu_mask & bit);
      e->pdu_mask |= bit;
      // A first Set within an incident is news worth an update of its own.
      grew(ctx, s, *e, true, ev.ts, ev.order, /*news=*/new_set);
    }
  }

  // Grows with the agents asked, not with one agent's requests.
  uint32_t amount(const Entry& e) const noexcept { return e.agents.total; }

  void fill(ShardCtx& ctx, Alert* a, const Entry& e) const noexcept {
    a->proto = 17;
    a->dst = e.agents.addr[0];
    a->sport = e.first_sport, a->dport = e.dport;
    const bool set = e.pdu_mask & (1u << (uint8_t(snmp::Pdu::kSet) - 0xA0));
    a->score =
        ctx.score(e.agents.addr[0], 17, e.dport, std::min(5, cfg_.lethality + (set ? 1 : 0)));
    a->detail.put(Detail{e.requests, e.answers, e.answered.estimate(), e.pdu_mask, e.versions,
                         e.communities});
    e.agents.fill(*a);
    a->ttl = e.ttl, a->ip_id = e.ip_id;
  }
};

void render(const Alert& a, AlertText& t) {
  const Detail d = a.detail.get<Detail>();
  std::string communities;
  auto community_list = nlohmann::ordered_json::array();
  for (size_t i = 0; i < std::size(kDefaults); ++i)
    if (d.communities >> i & 1) {
      communities += (communities.empty() ? "\"" : ", \"") + std::string(kDefaults[i]) + "\"";
      community_list.push_back(kDefaults[i]);
    }
  std::string pdus;
  auto list = nlohmann::ordered_json::array();
  for (uint32_t b = 0; b < 9; ++b)
    if (d.pdu_mask & (1u << b)) {
      const char* name = snmp::pdu_name(uint8_t(0xA0 + b));
      pdus += (pdus.empty() ? "" : ", ") + std::string(name);
      list.push_back(name);
    }
  const bool set = d.pdu_mask & (1u << (uint8_t(snmp::Pdu::kSet) - 0xA0));
  const std::string version = d.versions == 3 ? "v1 and v2c" : d.versions == 2 ? "v2c" : "v1";
  const uint32_t agents = std::max<uint32_t>(1, a.n_targets), answered = d.agents_answered;
  const std::string where = agents == 1 ? ip_to_string(a.dst) + ":" + std::to_string(a.dport)
                                        : format_count(agents) + " agents on udp/" +
                                              std::to_string(a.dport) + " (" +
                                              target_order_name(a.target_order) + ")";
  const std::string answers = d.answers == 0 ? ""
                              : agents == 1  ? ", agent answered"
                                             : ", " + format_count(answered) + " agents answered";
  t.signature = "SNMP " + version + " with default communit" +
                (community_list.size() > 1 ? "ies " : "y ") + communities + ": " +
                format_count(d.requests) + (d.requests == 1 ? " request" : " requests") + " (" +
                pdus + ") to " + where + answers +
                (set ? "; a Set can reconfigure " + std::string(agents == 1 ? "it" : "them") : "") +
                update_suffix(a);
  auto& e = t.evidence;
  e["version"] = version;
  e["community"] = community_list.empty() ? "" : community_list[0];
  e["communities"] = community_list;
  e["pdu_types"] = list;
  e["set_request"] = set;
  e["requests"] = d.requests;
  e["agent_answered"] = d.answers > 0;
  e["answers"] = d.answers;
  e["agents"] = listed_targets(a);
  e["agents_total"] = agents;
  e["agents_answered"] = agents == 1 ? uint32_t(d.answers > 0) : answered;
  e["order"] = target_order_name(a.target_order);
  e["first_seen"] = eve_timestamp(a.first_ts);
  e["last_seen"] = eve_timestamp(a.last_ts);
  e["update"] = a.update;
}

}  // namespace

extern const DetectorDescriptor kSnmpPublic = {
    "snmp-public",
    1000015,
    DetectorKind::kHostBehaviour,
    "Attempted Information Leak",
    "SNMP v1/v2c requests using a default community string (public, private)",
    3,
    kParams,
    make_detector<SnmpPublic>,
    render,
    {"SNMP v1 and v2c authenticate with a community string sent in clear text; 'public' "
     "(read) and 'private' (write) are the factory defaults. An agent that accepts them gives "
     "anyone its configuration, interfaces, routes and ARP table, and with 'private' lets them "
     "change it.",
     "Possible for a single Set or trap (UDP, no handshake), but a Get is only useful to a "
     "requester who receives the answer, so its source is probably real.",
     "Change the communities on every agent (or move to SNMPv3 with authentication), restrict "
     "which managers may query each agent, and block 161-162/udp at the perimeter."},
    /*incident_is_victim=*/false,
    fusion_rank::kPurpose};

}  // namespace harrier
