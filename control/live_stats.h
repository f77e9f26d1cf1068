// The counters of a running harrier, as `harrierctl stats`, the Prometheus
// endpoint and DPDK telemetry show them. Everything read here is safe while
// the workers run: atomics with one writer, shard counters published under
// a sequence lock, DPDK port statistics. Rates (pps, bps) are over the last
// whole second, sampled by the control thread.
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "capture/incident_recorder.h"
#include "capture/packet_filter.h"
#include "capture/pcapng_writer.h"
#include "control/event_publisher.h"
#include "control/redis_output.h"
#include "engine/pipeline.h"
#include "engine/source.h"

namespace harrier {

struct LiveStatsSources {
  const Pipeline* pipeline = nullptr;
  const PacketSource* source = nullptr;
  const PcapngWriter* capture = nullptr;  // null: no recording
  const PacketFilter* capture_filter = nullptr;
  const RedisOutput* redis = nullptr;      // null: no outputs.redis
  const EventPublisher* events = nullptr;  // null: not publishing (correlation.sensor)
};

class LiveStats {
 public:
  explicit LiveStats(LiveStatsSources s);

  // Once a second, from one thread: the reference point of the rates.
  void sample();
  // Any thread.
  nlohmann::ordered_json collect();
  // Prometheus text exposition format 0.0.4 of the same counters.
  std::string prometheus();

 private:
  std::vector<PegValues> output_pegs() const;
  struct Point {
    std::chrono::steady_clock::time_point at;
    std::vector<std::vector<uint64_t>> queue_packets, queue_bytes;  // [port][queue]
    uint64_t analysed = 0;
    std::vector<uint64_t> worker_packets, worker_bytes;
  };
  // `workers`: the shards' counts too (for the rates; collect reads them itself).
  Point take(bool workers = true) const;
  // `detectors`: the detectors' counter tables, read once by the caller.
  nlohmann::ordered_json collect_locked(const std::vector<PegValues>& detectors);

  LiveStatsSources s_;
  std::chrono::steady_clock::time_point started_;
  std::mutex mu_;  // rte_eth_stats_get and the samples, between control, metrics, telemetry
  Point prev_, last_;
  bool have_rates_ = false;
};

}  // namespace harrier
