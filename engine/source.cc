#include "engine/source.h"

#include <ctime>

#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>

namespace harrier {

// The RX timestamp unit is the PMD's choice (DPDK 22.11's pcap PMD uses
// microseconds, later versions nanoseconds). Offline we know the first
// packet's time from the file: pick the unit that lands closest to it.
// Without that knowledge (live), take nanoseconds.
uint64_t timestamp_scale(uint64_t raw, uint64_t first_ts_ns) noexcept {
  if (first_ts_ns == 0) return 1;
  uint64_t best = 1, best_err = UINT64_MAX;
  for (uint64_t s : {1ull, 1'000ull, 1'000'000ull, 1'000'000'000ull}) {
    if (raw > UINT64_MAX / s) break;
    const uint64_t v = raw * s;
    const uint64_t err = v > first_ts_ns ? v - first_ts_ns : first_ts_ns - v;
    if (err < best_err) best = s, best_err = err;
  }
  return best;
}

uint64_t wall_ns() noexcept {
  timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return uint64_t(t.tv_sec) * 1'000'000'000ull + uint64_t(t.tv_nsec);
}

PacketSource::PacketSource(std::vector<PortInput> inputs, bool sequential)
    : inputs_(std::move(inputs)),
      got_(inputs_.size()),
      idle_polls_(inputs_.size()),
      ts_scale_(inputs_.size(), 0),
      sequential_(sequential) {
  ts_offset_ = rte_mbuf_dynfield_lookup(RTE_MBUF_DYNFIELD_TIMESTAMP_NAME, nullptr);
  const int bit = rte_mbuf_dynflag_lookup(RTE_MBUF_DYNFLAG_RX_TIMESTAMP_NAME, nullptr);
  ts_flag_ = bit >= 0 ? (1ull << bit) : 0;
  finished_ = inputs_.empty();
  for (const PortInput& in : inputs_)
    queues_.push_back(std::make_unique<QueueCounters[]>(in.rx_queues));
}

uint64_t PacketSource::input_losses(size_t i) const {
  rte_eth_stats st{};
  if (rte_eth_stats_get(inputs_[i].port_id, &st) != 0) return 0;
  return st.ierrors + st.rx_nombuf;
}

// An offline input is done when everything it holds was delivered or lost
// inside the PMD. A PMD that stops short (a file truncated mid-packet) is
// recognised by a long run of empty polls.
bool PacketSource::input_done(size_t i) noexcept {
  const PortInput& in = inputs_[i];
  if (!in.offline) return false;
  if (got_[i] >= in.expected) return true;  // at once for a file without packets
  if (idle_polls_[i] < 1024) return false;
  if (got_[i] + input_losses(i) >= in.expected) return true;
  if (idle_polls_[i] > 2'000'000) {
    ++counters_.stalled_inputs;
    return true;
  }
  return false;
}

uint32_t PacketSource::poll(rte_mbuf** out, uint64_t* ts, uint32_t max) noexcept {
  if (finished_) return 0;
  const size_t i = current_;
  if (!sequential_) current_ = (current_ + 1) % inputs_.size();
  const PortInput& in = inputs_[i];
  const uint16_t q = next_queue_++ % in.rx_queues;
  const uint32_t n = rte_eth_rx_burst(in.port_id, q, out, uint16_t(max));
  got_[i] += n;
  idle_polls_[i] = n ? 0 : idle_polls_[i] + 1;
  uint64_t bytes = 0;
  uint64_t wall = 0;  // read once per burst, and only if a packet is unstamped
  // A live port whose stamp unit is unknown would put packets at a wrong
  // time (1000x off for a microsecond PMD): the wall clock is right.
  const bool use_stamps = ts_offset_ >= 0 && (in.first_ts_ns || in.ts_unit_ns || in.offline);
  for (uint32_t k = 0; k < n; ++k) {
    rte_mbuf* m = out[k];
    bytes += m->pkt_len;
    if (!use_stamps || !(m->ol_flags & ts_flag_)) {
      if (wall == 0) wall = wall_ns();
      ts[k] = wall;
      continue;
    }
    const uint64_t raw = *RTE_MBUF_DYNFIELD(m, ts_offset_, rte_mbuf_timestamp_t*);
    // Time zero is zero in any unit: learn the unit from the first packet
    // that has a time (generated captures often start at the epoch).
    if (ts_scale_[i] == 0) {
      if (raw == 0) {
        ts[k] = 0;
        continue;
      }
      ts_scale_[i] = in.ts_unit_ns ? in.ts_unit_ns : timestamp_scale(raw, in.first_ts_ns);
    }
    ts[k] = raw * ts_scale_[i];
  }
  if (n) queues_[i][q].add(n, bytes);
  if (sequential_ && n == 0 && input_done(i)) {
    ++current_;
    if (current_ >= inputs_.size()) finished_ = true;
  }
  return n;
}

}  // namespace harrier
