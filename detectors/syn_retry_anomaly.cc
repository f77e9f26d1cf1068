// syn-retry-anomaly (seed detect 4): an unanswered connection whose SYN is
// resent with the same ISN more often, or over a longer span, than real
// stacks do. Linux gives up after 7 SYNs in about 127 s (1,2,4,8,16,32 s gaps),
// Windows after 3 in about 21 s; the seed's finger probe sent 9 over 429 s,
// doubling from 3 s and then holding at 120 s.
//
// Flow-local: the flow table keeps each flow's SYN count, ISN and gaps; this
// detector reads them beside it. A SYN with a new ISN is a new attempt and
// starts the count again; any answer from the responder ends the question.
#include <cmath>

#include "detectors/detector.h"
#include "detectors/evidence.h"

namespace harrier {
namespace {

constexpr ParamSpec kParams[] = {
    {"min_syns", ParamType::kCount, 2, 1000, 8,
     "SYNs with one ISN, unanswered, that no stack sends"},
    {"max_span", ParamType::kSeconds, 1, 86400, 180,
     "seconds of SYN retries beyond any stack's give-up time"},
};

constexpr int kMaxGaps = FlowEntry::kMaxSynGaps;

// What an alert carries beyond the shared fields.
struct Detail {
  uint32_t syns;               // SYNs with the ISN, this one included
  uint32_t span_ms;            // first SYN to this one
  uint32_t isn_changes;        // earlier attempts on the tuple with another ISN
  uint32_t gaps_ms[kMaxGaps];  // gaps between the SYNs, oldest first
  uint8_t n_gaps;
};

class SynRetryAnomaly final : public Detector {
 public:
  SynRetryAnomaly(const DetectorDescriptor& d, const DetectorConfig& c)
      : Detector(d, c),
        min_syns_(uint32_t(c.get("min_syns"))),
        max_span_ns_(uint64_t(c.get("max_span") * 1e9)) {}

  PacketInterest packet_interest() const override {
    PacketInterest in;  // the initiator's SYNs (PacketCtx::syn_index)
    in.classes = class_bit(PacketClass::kTcp);
    in.all_facts = packet_fact::kFromInitiator;
    in.tcp_flags = [](uint16_t f) { return (f & tcp_flag::kSyn) && !(f & tcp_flag::kAck); };
    return in;
  }

  void on_packets(ShardCtx& ctx, PacketSelection pkts, DetectorState*) const noexcept override {
    const uint32_t bit = 1u << cfg_.index;
    for (const PacketCtx& p : pkts) {
      if (p.syn_index < 2 || p.flow == nullptr) continue;
      FlowEntry& f = *p.flow;
      if ((f.alerted & bit) || f.responder_replied) continue;
      // Captures can step back in time; a negative span is no span.
      const uint64_t span = p.ts > f.first_syn_ts ? p.ts - f.first_syn_ts : 0;
      if (p.syn_index < min_syns_ && span <= max_span_ns_) continue;
      f.alerted |= bit;
      Alert* a = ctx.alerts->next();
      if (!a) continue;
      const PacketView& v = *p.v;
      alert_header(*a, cfg_.index, p.ts, p.order, 6, v.src, v.dst, v.sport, v.dport);
      a->first_ts = f.first_syn_ts, a->last_ts = p.ts;
      a->score = ctx.score(v.dst, 6, v.dport, cfg_.lethality);
      a->isn = f.syn_isn;
      a->tcp_flags = v.tcp_flags;
      a->ttl = v.ttl;
      a->ip_id = v.ip_id;
      Detail d{};
      d.syns = p.syn_index;
      d.span_ms = uint32_t(span / 1'000'000ull);
      d.isn_changes = f.syn_isn_changes;
      // The gaps up to this SYN: later SYNs of the same burst are not evidence yet.
      d.n_gaps = uint8_t(std::min<uint32_t>(
          {uint32_t(f.syn_gap_count), uint32_t(p.syn_index - 1), uint32_t(kMaxGaps)}));
      for (uint32_t i = 0; i < d.n_gaps; ++i)
        d.gaps_ms[i] = f.syn_gaps_ms[i];
      a->detail.put(d);
      a->n_targets = 1;
      a->targets[0] = v.dst;
    }
  }

 private:
  uint32_t min_syns_;
  uint64_t max_span_ns_;
};

// Names the shape of the retry intervals: doubling (exponential backoff),
// then perhaps held at a cap, or constant, or irregular.
std::string retry_shape(const uint32_t* gaps, uint32_t n, uint32_t* cap_ms) {
  *cap_ms = 0;
  if (n < 2) return "single retry";
  auto near = [](double a, double b) { return std::fabs(a - b) <= 0.15 * b + 50; };
  uint32_t doubling = 0;
  while (doubling + 1 < n && near(gaps[doubling + 1], 2.0 * gaps[doubling]))
    ++doubling;
  const uint32_t held_from = doubling + 1;
  if (doubling == 0) {
    uint32_t k = 1;
    while (k < n && near(gaps[k], gaps[0]))
      ++k;
    return k == n ? "constant" : "irregular";
  }
  if (held_from >= n) return "doubling";
  // After the doubling run, do the remaining gaps sit at one value?
  const uint32_t cap = gaps[held_from];
  uint32_t k = held_from;
  while (k < n && near(gaps[k], cap))
    ++k;
  if (k == n) {
    *cap_ms = cap;
    return "doubling, then capped";
  }
  return "irregular";
}

void render(const Alert& a, AlertText& t) {
  const Detail d = a.detail.get<Detail>();
  const uint32_t n = std::min<uint32_t>(d.n_gaps, kMaxGaps);
  uint32_t cap_ms = 0;
  const std::string shape = retry_shape(d.gaps_ms, n, &cap_ms);
  std::string series;
  nlohmann::ordered_json gaps = nlohmann::ordered_json::array();
  for (uint32_t i = 0; i < n; ++i) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%g", d.gaps_ms[i] / 1000.0);
    series += (i ? "," : "") + std::string(buf);
    gaps.push_back(d.gaps_ms[i] / 1000.0);
  }
  t.signature = "SYN retried beyond any TCP stack: " + std::to_string(d.syns) +
                " SYNs with one ISN to port " + std::to_string(a.dport) + " over " +
                format_seconds(d.span_ms / 1000.0) + ", unanswered; intervals " + series + " s (" +
                shape + (cap_ms ? " at " + format_seconds(cap_ms / 1000.0) : std::string()) + ")";
  auto& e = t.evidence;
  e["syns"] = d.syns;
  e["span_s"] = d.span_ms / 1000.0;
  e["isn"] = a.isn;
  e["intervals_s"] = gaps;
  e["shape"] = shape;
  if (cap_ms) e["cap_s"] = cap_ms / 1000.0;
  e["answered"] = false;
  e["earlier_attempts_with_other_isn"] = d.isn_changes;
  e["ttl"] = a.ttl;
  e["ip_id"] = a.ip_id;
}

}  // namespace

extern const DetectorDescriptor kSynRetryAnomaly = {
    "syn-retry-anomaly",
    1000004,
    DetectorKind::kFlowLocal,
    "Potentially Bad Traffic",
    "Unanswered SYN resent with the same ISN more often or longer than real stacks do",
    1,
    kParams,
    make_detector<SynRetryAnomaly>,
    render,
    {"A real stack resends an unanswered SYN a few times with growing gaps (RFC 6298) and "
     "gives up within a minute or two. Resending the same ISN many more times, faster or for "
     "longer than that, is a crafted packet generator (a SYN flood tool, a scanner with "
     "its own retry logic) or a broken stack.",
     "Possible: nothing here needs an answer to reach the sender, so the source may be forged; "
     "the TTL and IP ID evidence tell whether the packets share one origin.",
     "Look for other traffic from the source; if the target port is not offered, block it at "
     "the border. If the retries come from inside, find the host and its software."},
    /*incident_is_victim=*/false,
    fusion_rank::kProbeKind};

}  // namespace harrier
