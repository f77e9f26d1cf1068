// Configuration: the embedded default, overlaid by the user's YAML file and
// command-line options, validated whole before anything starts. Every error
// names the file, line, key, the value and what is allowed.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "capture/capture_config.h"
#include "control/correlation_config.h"
#include "control/redis_output.h"
#include "engine/port.h"
#include "dataplane/flow_table.h"
#include "dataplane/prefix.h"
#include "detectors/detector.h"
#include "detectors/incident_fusion.h"
#include "detectors/inventory.h"

namespace harrier {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Config {
  std::vector<std::string> sources;             // what was loaded, in order
  uint64_t text_hash = 1469598103934665603ull;  // FNV-1a over the bytes parsed, in order
  std::string hash() const;                     // text_hash as 16 hex digits

  // dataplane
  std::vector<std::string> eal_args;
  std::vector<PortConfig> ports;
  uint32_t workers = 2;
  uint32_t batch_size = 256;
  uint32_t mbufs = 16383;
  uint32_t flow_capacity =
      1u << 20;  // 1,048,576 concurrent flows: ~244 MB (FlowTable::memory_bytes)
  FlowTimeouts timeouts;
  bool pdump = true;  // run: let dpdk-dumpcap attach (worker threads stay non-EAL)

  PrefixSet home;
  Inventory inventory;
  std::vector<DetectorConfig> detectors;  // one per registry entry, registry order
  FusionConfig fusion;                    // incidents: one activity, one incident

  // outputs
  std::string eve;   // path, "-" for stdout, "" for none
  std::string fast;  // same
  bool summary = true;
  RedisOutputConfig redis;  // outputs.redis (enabled when present)

  CaptureConfig capture;
  CorrelationConfig correlation;  // correlation: (sensors publish when .sensor is set)

  // run: the control socket harrierctl talks to, and the group that may
  std::string control_socket = "/run/harrier/harrier.sock";
  std::string control_group;  // "" = the owner's group
  // A control client that sends nothing for this long is closed (told why),
  // so idle connections cannot hold every client slot.
  int control_idle_timeout_s = 30;
  std::string metrics;  // Prometheus endpoint "ADDR:PORT"; "" = off
};

// "1048576", "512K", "100M", "2G", "1T" (powers of 1024) -> bytes; false
// when `text` is none of these.
bool parse_size(const std::string& text, uint64_t* bytes);

// The built-in configuration `harrier read` uses without --config.
const char* default_config_yaml();

// Loads the embedded default, then `path` over it when not empty.
Config load_config(const std::string& path);
// Parses YAML text (named `name` in messages) over `cfg`.
void apply_config_yaml(Config& cfg, const std::string& text, const std::string& name);
// Replaces the inventory with the one in `path` (the `inventory:` schema).
void load_inventory_file(Config& cfg, const std::string& path);
// What differs between `running` and `next` that a reload cannot apply
// (dataplane, outputs, capture, control, detector table sizes): one
// "key (old -> new)" or "key" per difference; empty when a reload may go on.
std::vector<std::string> restart_only_changes(const Config& running, const Config& next);

// "--home-net a,b": replaces the home networks.
void set_home_networks(Config& cfg, const std::string& csv, const std::string& origin);

}  // namespace harrier
