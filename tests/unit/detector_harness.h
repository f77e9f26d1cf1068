// A detector without the graph: made from its registry entry and the
// configuration (defaults, or YAML over them), fed packets and host events
// directly, its alerts collected. A detector's thresholds, windows, fold-in
// flags and must-not-fire rules are tested in milliseconds this way; the
// end-to-end groups test the same through the real dataplane.
//
// Packets go to the flow-stage half (on_packets) with the flow facts the
// test states (who opened the flow, whether it is new); the events they
// raise go on to the host-stage half as the host shard would hand them
// over (EventInterest). Host events can also be fed directly.
#pragma once

#include <arpa/inet.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "control/config.h"
#include "dataplane/decode.h"
#include "detectors/detector.h"
#include "detectors/registry.h"

namespace harrier::testing {

inline constexpr uint64_t kT0 = 1'700'000'000ull * 1'000'000'000ull;

inline uint64_t at(double seconds) {
  return kT0 + uint64_t(seconds * 1e9);
}

inline IpAddr ip(const char* text) {
  IpAddr a;
  a.family = 4;
  inet_pton(AF_INET, text, a.bytes);
  return a;
}

using Bytes = std::vector<uint8_t>;

// An Ethernet + IPv4 frame carrying `l4` (sized up front: GCC at -O3
// misreads growing small vectors).
inline Bytes ipv4_frame(const char* src, const char* dst, uint8_t proto, const Bytes& l4,
                        uint8_t ttl = 64, uint16_t ip_id = 0x1234) {
  Bytes b(14 + 20 + l4.size(), 0);
  const uint8_t eth[14] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00};
  std::copy(eth, eth + 14, b.begin());
  const size_t total = 20 + l4.size();
  uint8_t* h = b.data() + 14;
  h[0] = 0x45, h[2] = uint8_t(total >> 8), h[3] = uint8_t(total);
  h[4] = uint8_t(ip_id >> 8), h[5] = uint8_t(ip_id), h[8] = ttl, h[9] = proto;
  inet_pton(AF_INET, src, h + 12);
  inet_pton(AF_INET, dst, h + 16);
  std::copy(l4.begin(), l4.end(), b.begin() + 34);
  return b;
}

inline Bytes tcp_segment(uint16_t sport, uint16_t dport, uint16_t flags, const Bytes& payload = {},
                         uint32_t seq = 1000) {
  Bytes t(20 + payload.size(), 0);
  t[0] = uint8_t(sport >> 8), t[1] = uint8_t(sport), t[2] = uint8_t(dport >> 8);
  t[3] = uint8_t(dport), t[4] = uint8_t(seq >> 24), t[5] = uint8_t(seq >> 16);
  t[6] = uint8_t(seq >> 8), t[7] = uint8_t(seq);
  t[12] = uint8_t(0x50 | ((flags >> 8) & 0x01)), t[13] = uint8_t(flags);
  t[14] = 0x04;  // window 1024
  std::copy(payload.begin(), payload.end(), t.begin() + 20);
  return t;
}

inline Bytes udp_datagram(uint16_t sport, uint16_t dport, const Bytes& payload = {}) {
  Bytes u(8 + payload.size(), 0);
  u[0] = uint8_t(sport >> 8), u[1] = uint8_t(sport), u[2] = uint8_t(dport >> 8);
  u[3] = uint8_t(dport), u[4] = uint8_t((8 + payload.size()) >> 8);
  u[5] = uint8_t(8 + payload.size());
  std::copy(payload.begin(), payload.end(), u.begin() + 8);
  return u;
}

// A connection attempt's outcome, as a flow shard reports it.
inline HostEvent outcome(HostEventKind kind, const char* src, const char* dst, uint8_t proto,
                         uint16_t dport, double t, bool unexpected = true) {
  HostEvent e;
  e.kind = kind;
  e.ts = at(t);
  e.src = ip(src), e.dst = ip(dst);
  e.proto = proto;
  e.sport = 40000, e.dport = dport;
  e.tcp_flags = proto == 6 ? tcp_flag::kSyn : 0;
  e.flags = unexpected ? host_event_flag::kUnexpected : 0;
  return e;
}

// How the flow stage sees a packet's flow.
struct FlowFacts {
  bool from_initiator = true;
  bool flow_created = true;
};

class DetectorHarness {
 public:
  // `params`: YAML of the detector's parameters, e.g. "{fast_hosts: 4}".
  explicit DetectorHarness(std::string_view id, const std::string& params = "",
                           const std::string& home = "10.0.0.0/8") {
    cfg_ = load_config("");
    if (!params.empty())
      apply_config_yaml(cfg_, "detectors:\n  " + std::string(id) + ": " + params + "\n", "test");
    set_home_networks(cfg_, home, "test");
    index_ = find_detector(id);
    if (index_ < 0) throw std::runtime_error("no detector " + std::string(id));
    const DetectorDescriptor& d = *detector_registry()[size_t(index_)];
    detector_ = d.make(d, cfg_.detectors[size_t(index_)]);
    std::string err;
    state_ = detector_->make_state(0, 0, 1, &err);
    flow_state_ = detector_->make_flow_state(0, 0, &err);
    if (!err.empty()) throw std::runtime_error(err);
    interest_ = detector_->event_interest();
    rt_.home = &cfg_.home;
    rt_.inventory = &cfg_.inventory;
  }

  // Flow stage: one packet at t seconds; what it raises goes on to the host stage.
  void packet(const Bytes& frame, double t, FlowFacts facts = {}) {
    PacketView v{};  // decode fills what the packet has; the rest must be zero
    const DecodeError err = decode(frame.data(), uint32_t(frame.size()), uint32_t(frame.size()), v);
    PacketCtx c;
    c.v = &v;
    c.ts = at(t);
    c.order = ++order_;
    c.decoded = err == DecodeError::kNone;
    c.src_home = cfg_.home.contains(v.src);
    c.dst_home = cfg_.home.contains(v.dst);
    c.from_initiator = facts.from_initiator;
    c.flow_created = facts.flow_created;
    // One flow per address/port pair, whichever way round.
    const std::pair a{v.src, v.sport}, b{v.dst, v.dport};
    c.flow = v.quoted.present ? nullptr : &flows_[{std::min(a, b), std::max(a, b), v.ip_proto}];
    HostEvent raised[64];
    uint32_t n = 0;
    EventSink sink(raised, &n, 64);
    ShardCtx ctx = context();
    ctx.events = &sink;
    const uint16_t picked = 0;
    detector_->on_packets(ctx, {std::span(&c, 1), std::span(&picked, 1)}, flow_state_.get());
    events(std::vector<HostEvent>(raised, raised + n));
  }

  // Host stage: the events (in packet order) the detector asked for, then a
  // tick at the last one's time.
  void events(std::vector<HostEvent> evs) {
    if (evs.empty()) return;
    std::vector<uint32_t> picked;
    for (uint32_t i = 0; i < evs.size(); ++i) {
      HostEvent& e = evs[i];
      if (!e.order) e.order = ++order_;
      const bool mine = e.kind == HostEventKind::kDetector
                            ? interest_.own && e.detector == uint16_t(index_)
                            : (interest_.outcomes & EventInterest::bit(e.kind)) != 0;
      if (mine) picked.push_back(i);
    }
    run([&](ShardCtx& ctx) {
      if (!picked.empty()) detector_->on_events(ctx, {evs, picked}, state_.get());
    });
    tick_at(evs.back().ts);
  }

  // Packet time moved to t seconds (deadlines, closing updates).
  void tick(double t) { tick_at(at(t)); }
  // The end of input.
  void end() { tick_at(UINT64_MAX); }

  const std::vector<Alert>& alerts() const { return alerts_; }
  // The detector's counter table as its states count it.
  PegValues pegs() const {
    PegValues v{std::string(detector_->descriptor().id), detector_->pegs(), {}};
    v.values.assign(v.info.size(), 0);
    if (flow_state_) flow_state_->add_pegs(v.values.data());
    if (state_) state_->add_pegs(v.values.data());
    return v;
  }
  // An alert's evidence as its detector's renderer writes it.
  nlohmann::ordered_json evidence(const Alert& a) const {
    AlertText t;
    detector_registry()[size_t(index_)]->render(a, t);
    return t.evidence;
  }
  uint16_t index() const { return uint16_t(index_); }
  Config& config() { return cfg_; }

 private:
  ShardCtx context() {
    ShardCtx ctx;
    ctx.rt = rt_;
    ctx.answer_grace_ns = uint64_t(cfg_.timeouts.answer_grace_ms) * 1'000'000ull;
    ctx.input_start_ns = kT0;
    return ctx;
  }
  template <typename F>
  void run(F&& f) {
    Alert slots[32];
    std::deque<Alert> spill;
    AlertSink sink(slots, 32, &spill, SIZE_MAX);
    ShardCtx ctx = context();
    ctx.alerts = &sink;
    f(ctx);
    alerts_.insert(alerts_.end(), slots, slots + sink.in_slots());
    alerts_.insert(alerts_.end(), spill.begin(), spill.end());
  }
  void tick_at(uint64_t now) {
    run([&](ShardCtx& ctx) { detector_->on_tick(ctx, now, state_.get()); });
  }

  Config cfg_;
  int index_ = -1;
  std::unique_ptr<Detector> detector_;
  std::unique_ptr<DetectorState> state_, flow_state_;
  EventInterest interest_;
  RuntimeView rt_;
  std::map<std::tuple<std::pair<IpAddr, uint16_t>, std::pair<IpAddr, uint16_t>, uint8_t>, FlowEntry>
      flows_;
  std::vector<Alert> alerts_;
  uint64_t order_ = 0;
};

}  // namespace harrier::testing
