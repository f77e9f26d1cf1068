// Where packets come from: DPDK ethdev ports (hardware or vdev) polled queue
// by queue. Offline inputs (net_pcap over a file) know how many packets the
// file holds, which is how the end of a file is recognised: the pcap PMD
// itself just returns nothing forever.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct rte_mbuf;

namespace harrier {

struct PortInput {
  uint16_t port_id = 0;
  uint16_t rx_queues = 1;
  uint64_t expected = 0;  // offline: packets the input holds
  std::string name;       // for messages: the file or device
  uint64_t first_ts_ns =
      0;  // offline: the first non-zero packet time, to learn the PMD's timestamp unit
  // ns per PMD timestamp unit when known up front; live ports with neither
  // this nor a first time are stamped with the wall clock instead.
  uint64_t ts_unit_ns = 0;
  bool offline = false;  // a file, which ends; a live port never does
};

// What one RX queue delivered, counted by the rx thread and read by the
// control thread (single writer: relaxed loads and stores, never torn).
struct alignas(64) QueueCounters {
  std::atomic<uint64_t> packets{0};
  std::atomic<uint64_t> bytes{0};
  void add(uint64_t n, uint64_t b) noexcept {
    packets.store(packets.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    bytes.store(bytes.load(std::memory_order_relaxed) + b, std::memory_order_relaxed);
  }
};

struct SourceCounters {
  uint64_t stalled_inputs = 0;  // an offline input stopped short of its packet count
};

class PacketSource {
 public:
  // `sequential`: drain inputs one after another (files, in the order given);
  // otherwise poll all of them round-robin (live ports).
  PacketSource(std::vector<PortInput> inputs, bool sequential);

  // Up to `max` packets, each stamped with packet time (ns). Never blocks.
  uint32_t poll(rte_mbuf** out, uint64_t* ts, uint32_t max) noexcept;
  // Every offline input delivered what it holds (or stalled). Live: never.
  bool finished() const noexcept { return finished_; }

  const SourceCounters& counters() const { return counters_; }
  // What an input lost inside the PMD (mbuf exhaustion, read errors).
  uint64_t input_losses(size_t i) const;
  const std::vector<PortInput>& inputs() const { return inputs_; }
  // Any thread: packets and bytes received on queue `q` of input `i`.
  const QueueCounters& queue(size_t i, uint16_t q) const { return queues_[i][q]; }

 private:
  bool input_done(size_t i) noexcept;

  std::vector<PortInput> inputs_;
  std::vector<uint64_t> got_;
  std::vector<uint32_t> idle_polls_;
  std::vector<uint64_t> ts_scale_;  // PMD timestamp units -> ns, per input (0 = not learnt yet)
  std::vector<std::unique_ptr<QueueCounters[]>> queues_;  // [input][queue]
  bool sequential_;
  size_t current_ = 0;
  uint16_t next_queue_ = 0;
  bool finished_ = false;
  int ts_offset_ = -1;
  uint64_t ts_flag_ = 0;
  SourceCounters counters_;
};

// Wall-clock time in ns, for packets that carry no timestamp (live ports
// without RX timestamping) and for heartbeats.
uint64_t wall_ns() noexcept;

// Multiplier from a PMD's RX timestamp to ns, learnt from a known first time.
uint64_t timestamp_scale(uint64_t raw, uint64_t first_ts_ns) noexcept;

}  // namespace harrier
