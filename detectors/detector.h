// The detector contract.
//
// A detector is a small self-describing unit: a static DetectorDescriptor
// (catalog id, help, parameter table, factory, renderer) listed in the
// explicit registry (registry.cc); an immutable Detector built from validated
// config; per-shard DetectorState it allocates when attached to a shard; and
// noexcept burst functions.
//
// Threads:
//  - main thread: make(), make_state(), render() (render runs on the output thread);
//  - packet threads: on_packets() on the flow shard owning the packets,
//    on_events()/on_tick() on the host shard owning the events' keys.
// A packet thread never shares a DetectorState with another thread.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "dataplane/flow_table.h"
#include "dataplane/packet.h"
#include "dataplane/pegs.h"
#include "dataplane/prefix.h"
#include "detectors/alert.h"
#include "detectors/host_event.h"
#include "detectors/inventory.h"
#include "detectors/packet_interest.h"

namespace harrier {

enum class DetectorKind : uint8_t {
  kStateless,      // looks at one packet (and its flow) at a time, keeps nothing
  kFlowLocal,      // keeps per-flow evidence beside the flow table that owns the packet
  kHostBehaviour,  // counts per source/victim across flows, on the host shard owning the key
};

// kPortList: a list of "PORT/PROTO LABEL" strings (min/max bound its
// length; def 0 means the detector's built-in list applies when unset).
enum class ParamType : uint8_t { kCount, kSeconds, kScore, kPortList };

struct PortLabel {
  uint16_t port = 0;
  uint8_t proto = 0;  // 6 or 17
  std::string label;
  bool operator==(const PortLabel&) const = default;
};

struct ParamSpec {
  std::string_view name;
  ParamType type;
  double min, max, def;
  std::string_view help;
};

// Validated parameter values for one detector, in its ParamSpec order.
struct DetectorConfig {
  uint16_t index = 0;  // registry index
  bool enabled = true;
  int lethality = 3;
  std::vector<double> values;
  std::span<const ParamSpec> specs;
  std::vector<std::vector<PortLabel>> lists;  // per spec; set only for configured kPortList
  double get(std::string_view name) const;    // main thread only; aborts on a name not in specs
  // A kPortList parameter's configured entries, or nullptr when unset.
  const std::vector<PortLabel>* port_list(std::string_view name) const;
};

// One decoded packet as the flow stage hands it to detectors.
struct PacketCtx {
  const PacketView* v = nullptr;
  FlowEntry* flow = nullptr;  // null for ICMP errors, non-IP and undecodable packets
  uint64_t ts = 0;            // packet time, ns
  uint64_t order = 0;         // global packet number
  bool decoded = false;       // decode reached the transport layer without error
  bool from_initiator = false;
  bool flow_created = false;  // this packet opened the flow
  bool src_home = false, dst_home = false;
  uint16_t syn_index = 0;  // for an initiator's SYN: its number within this attempt (1 = first)
};

// The items of a batch that one reader asked for, in order: indexes into
// the whole batch, which stays in view (`all`).
template <typename T, typename Index>
struct Selection {
  std::span<const T> all;
  std::span<const Index> picked;  // indexes into `all`, ascending

  class iterator {
   public:
    iterator(const T* all, const Index* at) : all_(all), at_(at) {}
    const T& operator*() const { return all_[*at_]; }
    iterator& operator++() {
      ++at_;
      return *this;
    }
    bool operator!=(const iterator& o) const { return at_ != o.at_; }

   private:
    const T* all_;
    const Index* at_;
  };
  iterator begin() const { return {all.data(), picked.data()}; }
  iterator end() const { return {all.data(), picked.data() + picked.size()}; }
  size_t size() const { return picked.size(); }
  bool empty() const { return picked.empty(); }
};

// The packets of one burst that a detector asked for (its PacketInterest),
// in packet order. `all` is the whole burst, for a detector that looks back
// at a flow's earlier packets, which may be of classes it did not ask for.
using PacketSelection = Selection<PacketCtx, uint16_t>;

// Which host events a detector's on_events reads: connection outcomes of
// the kinds it names, and the detector events its own flow-stage half
// raised. The host shard sorts each batch's events once and hands each
// detector only its own (no detector filters every event).
struct EventInterest {
  uint8_t outcomes = 0;  // bit (1 << HostEventKind) per outcome kind
  bool own = true;       // kDetector events raised for this detector
  static constexpr uint8_t bit(HostEventKind k) { return uint8_t(1u << uint8_t(k)); }
  static constexpr uint8_t kFailedAttempts =  // a scan's probes that found nothing open
      (1u << uint8_t(HostEventKind::kUnanswered)) | (1u << uint8_t(HostEventKind::kRefused));
  static constexpr uint8_t kAllOutcomes = kFailedAttempts | (1u << uint8_t(HostEventKind::kOpen));
};

// The events of one batch that a detector asked for, in packet order.
using EventSelection = Selection<HostEvent, uint32_t>;

// Shared, read-only view of the configuration a shard runs with.
struct RuntimeView {
  const PrefixSet* home = nullptr;
  const Inventory* inventory = nullptr;
};

// Collects a shard's alerts for the current burst: first into the batch's
// fixed slots, then, past them, into a spill list that grows only when a
// burst raises more alerts than a batch holds (an end-of-input tick settling
// thousands of incidents). `spill_limit` bounds it live, where an alert
// beyond it is counted as dropped; offline it is unbounded, so what `read`
// finds never depends on batch boundaries.
class AlertSink {
 public:
  AlertSink(Alert* slots, uint32_t cap, std::deque<Alert>* spill = nullptr, size_t spill_limit = 0)
      : slots_(slots), cap_(cap), spill_(spill), spill_limit_(spill_limit) {}
  // A zeroed alert to fill, or nullptr when the budget is spent. The pointer
  // stays valid until the batch is emitted.
  Alert* next() noexcept {
    if (n_ < cap_) {
      Alert* a = &slots_[n_++];
      *a = Alert{};
      return a;
    }
    if (spill_ && spill_->size() < spill_limit_) {
      ++spilled_;
      return &spill_->emplace_back();  // a deque keeps earlier elements in place
    }
    ++dropped_;
    return nullptr;
  }
  uint32_t size() const { return n_ + spilled_; }
  uint32_t in_slots() const { return n_; }
  const Alert* data() const { return slots_; }
  uint64_t dropped() const { return dropped_; }
  uint32_t spilled() const { return spilled_; }

 private:
  Alert* slots_;
  uint32_t cap_;
  uint32_t n_ = 0;
  std::deque<Alert>* spill_;
  size_t spill_limit_;
  uint32_t spilled_ = 0;
  uint64_t dropped_ = 0;
};

struct ShardCtx {
  uint32_t shard = 0;
  int socket = 0;
  RuntimeView rt;
  AlertSink* alerts = nullptr;
  EventSink* events = nullptr;  // flow shards only: where host detectors' events go
  // Host shards: connection outcomes arrive this long after their attempt
  // (the flow shards' answer grace). An on_tick at `now` has seen every
  // outcome of attempts made before now - answer_grace_ns.
  uint64_t answer_grace_ns = 0;
  // Host shards: packet time of the input's first packet (0: none yet).
  // What arrives soon after it may belong to conversations that began
  // before the sensor saw them.
  uint64_t input_start_ns = 0;

  // Packet time up to which every connection outcome has arrived, for a
  // tick at `now` (UINT64_MAX, the end of input, stays so).
  uint64_t outcomes_complete_until(uint64_t now) const noexcept {
    if (now == UINT64_MAX) return now;
    return now > answer_grace_ns ? now - answer_grace_ns : 0;
  }

  Score score(const IpAddr& target, uint8_t proto, uint16_t port, int lethality) const noexcept {
    const ScoreTerms t = rt.inventory->terms(target, proto, port);
    return Score{int8_t(t.criticality), int8_t(lethality), int8_t(t.network_cm),
                 int8_t(t.system_cm)};
  }
};

class DetectorState {
 public:
  virtual ~DetectorState() = default;
  // Any thread, while the shard runs: adds this state's counters into
  // `out`, at their rows of its detector's pegs() (each half of a
  // host-behaviour detector writes its own rows).
  virtual void add_pegs(uint64_t* out) const noexcept { (void)out; }
};

struct DetectorDescriptor;

class Detector {
 public:
  Detector(const DetectorDescriptor& d, const DetectorConfig& c) : desc_(d), cfg_(c) {}
  virtual ~Detector() = default;
  const DetectorDescriptor& descriptor() const { return desc_; }
  const DetectorConfig& config() const { return cfg_; }

  // Main thread: per-shard state on `socket`, or nullptr when the detector
  // keeps none. `shard_capacity_share` divides table budgets among shards.
  virtual std::unique_ptr<DetectorState> make_state(int socket, uint32_t shard, uint32_t n_shards,
                                                    std::string* error) const {
    (void)socket, (void)shard, (void)n_shards, (void)error;
    return nullptr;
  }
  // Main thread, host-behaviour detectors only: state for the flow-stage half
  // (on_packets on a flow shard), e.g. per-flow parser state.
  virtual std::unique_ptr<DetectorState> make_flow_state(int socket, uint32_t shard,
                                                         std::string* error) const {
    (void)socket, (void)shard, (void)error;
    return nullptr;
  }
  // Main thread: which packets on_packets wants (see packet_interest.h),
  // from this detector's settings. The default is every packet; a detector
  // that reads none (it lives on connection outcomes) says none().
  virtual PacketInterest packet_interest() const { return PacketInterest::all(); }
  // Packet threads, once per burst that holds packets of its interest.
  // Host-behaviour detectors use it on the flow shards to raise their
  // events (ctx.events).
  virtual void on_packets(ShardCtx& ctx, PacketSelection pkts,
                          DetectorState* state) const noexcept {
    (void)ctx, (void)pkts, (void)state;
  }
  // Main thread: which host events on_events wants (see EventInterest);
  // the default is the detector's own events.
  virtual EventInterest event_interest() const { return {}; }
  // Host shard threads, once per batch that holds events of its interest.
  virtual void on_events(ShardCtx& ctx, EventSelection events,
                         DetectorState* state) const noexcept {
    (void)ctx, (void)events, (void)state;
  }
  // Main thread: the counters its states keep (its counter table, read by
  // stats, Prometheus and the end-of-run report; see DetectorState::add_pegs).
  virtual std::span<const PegInfo> pegs() const { return {}; }
  // Packet time moved to `now` (end of a burst, heartbeat, or end of input
  // with now = UINT64_MAX): deadlines that passed are decided.
  virtual void on_tick(ShardCtx& ctx, uint64_t now, DetectorState* state) const noexcept {
    (void)ctx, (void)now, (void)state;
  }

 protected:
  // An event of this detector's own, for its host-stage half, about packet
  // `p`: its time and number and its header as seen (addresses, ports,
  // protocol, TCP flags, TTL, IP ID). The caller adds what the event means,
  // or turns it round (keyed by the querier when `p` is the answer).
  HostEvent own_event(const PacketCtx& p) const noexcept {
    HostEvent e;
    e.kind = HostEventKind::kDetector;
    e.detector = cfg_.index;
    e.ts = p.ts, e.order = p.order;
    const PacketView& v = *p.v;
    e.src = v.src, e.dst = v.dst, e.sport = v.sport, e.dport = v.dport;
    e.proto = v.ip_proto, e.tcp_flags = v.tcp_flags, e.ttl = v.ttl, e.ip_id = v.ip_id;
    return e;
  }

  const DetectorDescriptor& desc_;
  const DetectorConfig cfg_;
};

// What render() produces, on the output thread.
struct AlertText {
  std::string signature;  // the analyst's sentence
  nlohmann::ordered_json evidence = nlohmann::ordered_json::object();
  // For a bare probe (Alert::bare_probe): what it touched, in a few words
  // ("111/tcp portmapper"), listed on the scan it is folded into.
  std::string touched;
};

// How specific a detector's account of an activity is: when several
// detectors see one activity of one source, the most specific names the
// incident and the others' findings become its evidence
// (incident_fusion.h). A bare probe ranks below everything.
namespace fusion_rank {
inline constexpr uint8_t kBareProbe = 0;  // a lone probe of a special port (Alert::bare_probe)
inline constexpr uint8_t kSlowShape = 1;  // targets gathered over days (slow-scan)
inline constexpr uint8_t kShape = 2;      // the shape of a scan or flood (how many, which)
inline constexpr uint8_t kProbeKind = 3;  // what the probes are (illegal flags, retries, pings)
inline constexpr uint8_t kProtocol = 4;   // a parsed protocol exchange
inline constexpr uint8_t kPurpose = 5;    // what the exchange is after (OS, relay, defaults)
}  // namespace fusion_rank

// The analyst's prose for an incident of this kind (see explain.h): how it
// works, how likely the source is spoofed and why, and what to do about it.
struct Explanation {
  std::string_view mechanism;
  std::string_view spoofing;
  std::string_view recommendation;
};

struct DetectorDescriptor {
  std::string_view id;  // catalog id: the `detector` field of every alert
  uint32_t sid;         // Snort-style signature id
  DetectorKind kind;
  std::string_view category;  // Snort classification text
  std::string_view help;
  int default_lethality;
  std::span<const ParamSpec> params;
  std::unique_ptr<Detector> (*make)(const DetectorDescriptor&, const DetectorConfig&);
  void (*render)(const Alert&, AlertText&);
  Explanation explain;
  // Incident captures follow the alert's destination (the victim of
  // backscatter), not its source; so does fusion (one incident per victim).
  bool incident_is_victim = false;
  uint8_t fusion_rank = fusion_rank::kShape;  // see fusion_rank
};

// A descriptor's factory for a detector class made from (descriptor, config).
template <typename D>
std::unique_ptr<Detector> make_detector(const DetectorDescriptor& d, const DetectorConfig& c) {
  return std::make_unique<D>(d, c);
}

// Formatting helpers shared by renderers.
std::string format_count(uint64_t n);          // 1,141
std::string update_suffix(const Alert& a);     // " (update 2)" on an update, "" on a first alert
std::string format_seconds(double s);          // 0.08 s, 5.0 s, 429 s, 30 min, 4.8 h, 2.5 days
std::string proto_name(uint8_t proto);         // tcp, udp, icmp, or the number
std::string format_tcp_flags(uint16_t flags);  // SYN, SYN|FIN|PSH|URG, NULL
std::string eve_timestamp(uint64_t ns);
// The alert's listed targets (at most Alert::kMaxTargets) as a JSON array.
nlohmann::ordered_json listed_targets(const Alert& a);

// PacketDispatch's per-packet part, here where PacketCtx is complete.
inline PacketClass PacketDispatch::class_of(const PacketCtx& c) noexcept {
  if (!c.decoded) return PacketClass::kUndecoded;
  const PacketView& v = *c.v;
  if (v.quoted.present) return PacketClass::kIcmpError;
  switch (v.proto) {
    case L4Proto::kTcp:
      return PacketClass::kTcp;
    case L4Proto::kUdp:
      return PacketClass::kUdp;
    case L4Proto::kIcmp:
    case L4Proto::kIcmp6:
      return PacketClass::kIcmp;
    default:
      return PacketClass::kOtherIp;
  }
}

inline uint8_t PacketDispatch::facts_of(const PacketCtx& c) noexcept {
  return uint8_t((c.src_home ? packet_fact::kSrcHome : 0) |
                 (c.dst_home ? packet_fact::kDstHome : 0) |
                 (c.from_initiator ? packet_fact::kFromInitiator : 0) |
                 (c.flow_created ? packet_fact::kFlowCreated : 0));
}

inline uint32_t PacketDispatch::port_mask(uint16_t port) const noexcept {
  return port_listed_[port >> 6] >> (port & 63) & 1 ? listed_port_mask(port) : 0;
}

inline uint32_t PacketDispatch::wants(const PacketCtx& c) const noexcept {
  const PacketClass cls = class_of(c);
  uint32_t m = by_class_facts_[size_t(cls)][facts_of(c)];
  if (m == 0) return 0;
  const PacketView& v = *c.v;
  if (cls == PacketClass::kTcp)
    m &= (v.tcp_flags > 0xFF ? by_tcp_flags_high_ : by_tcp_flags_)[v.tcp_flags & 0xFF];
  if (m & ~any_port_) {
    uint32_t ports = any_port_;
    if (v.has_ports()) ports |= port_mask(v.sport) | port_mask(v.dport);
    m &= ports;
  }
  return m;
}

}  // namespace harrier
