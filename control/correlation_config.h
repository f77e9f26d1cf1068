// The `correlation:` section: sensors publish their host events to Redis
// Streams, one stream per partition of the key-slot space, and correlators
// read them back in consumer groups (docs/scale-out.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "control/redis_link.h"

namespace harrier {

struct CorrelationConfig {
  RedisEndpoint redis;
  std::string key = "harrier:events";  // partition p's stream: "<key>:{p}" (a Cluster hash tag)
  uint32_t partitions = 16;

  // Sensor side: publishes when `sensor` is set.
  std::string sensor;
  uint64_t maxlen = 0;         // XADD MAXLEN ~ (entries per stream; 0: the correlators trim)
  uint32_t buffer = 1u << 20;  // events waiting for Redis
  double drain_timeout = 30;   // read: seconds the end of a run waits for Redis

  // Correlator side.
  std::string group = "harrier-correlate";
  std::string consumer;                      // this correlator's name; "" = host:pid
  std::vector<std::string> sensors;          // sensors to wait for before the first event
  uint64_t lateness_ns = 10'000'000'000ull;  // how far a slow sensor may lag, in packet time
  // Events stay pending this long (packet time) after use: a takeover
  // replays them into the incidents in progress.
  uint64_t hold_ns = 300'000'000'000ull;
  uint64_t sensor_timeout_ms = 60'000;  // a sensor silent this long (stream time) is not waited for
  uint32_t lease_ms = 10'000;           // a partition's owner renews within this
  bool trim = true;                     // XTRIM MINID what every reader has acknowledged

  bool publishes() const { return !sensor.empty(); }
  bool operator==(const CorrelationConfig&) const = default;
  // Partition p's stream, and its owner lease and alert checkpoint.
  std::string stream(uint32_t p) const { return key + ":{" + std::to_string(p) + "}"; }
  std::string lease(uint32_t p) const { return stream(p) + ":owner"; }
  std::string checkpoint(uint32_t p) const { return stream(p) + ":alerted"; }
};

}  // namespace harrier
