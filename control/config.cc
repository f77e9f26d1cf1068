#include "control/config.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "control/metrics_server.h"
#include "detectors/registry.h"

namespace harrier {

const char* default_config_yaml() {
  return R"yaml(# harrier built-in defaults
dataplane:
  workers: 2
  batch_size: 256
  mbufs: 16383
  flow_table:
    capacity: 1048576
    timeouts: {syn_sent: 300, established: 3600, closed: 30, udp: 180, other: 60}
    answer_grace: 3
home_networks: [10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fd00::/8]
inventory:
  defaults: {criticality: 3, system_cm: 3, network_cm: 1}
outputs:
  summary: true
)yaml";
}

bool parse_size(const std::string& text, uint64_t* bytes) {
  if (text.empty() || text.size() > 24) return false;
  uint64_t v = 0;
  size_t i = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
    if (v > (UINT64_MAX - 9) / 10) return false;
    v = v * 10 + uint64_t(text[i] - '0');
  }
  if (i == 0) return false;
  int shift = 0;
  if (i < text.size()) {
    switch (text[i] | 0x20) {
      case 'k':
        shift = 10;
        break;
      case 'm':
        shift = 20;
        break;
      case 'g':
        shift = 30;
        break;
      case 't':
        shift = 40;
        break;
      default:
        return false;
    }
    ++i;
    if (i < text.size() && (text[i] | 0x20) == 'i') ++i;  // "Gi"
    if (i < text.size() && (text[i] | 0x20) == 'b') ++i;  // "GB", "GiB"
    if (i != text.size()) return false;
  }
  if (shift && v > (UINT64_MAX >> shift)) return false;
  *bytes = v << shift;
  return true;
}

namespace {

struct Ctx {
  std::string file;
  [[noreturn]] void fail(const YAML::Node& n, const std::string& key,
                         const std::string& msg) const {
    std::ostringstream o;
    o << file;
    if (n.IsDefined() && n.Mark().line >= 0) o << ":" << n.Mark().line + 1;
    o << ": " << key << ": " << msg;
    throw ConfigError(o.str());
  }
  void only_keys(const YAML::Node& map, const std::string& where,
                 std::initializer_list<const char*> allowed) const {
    if (!map.IsMap()) fail(map, where, "must be a mapping");
    for (const auto& kv : map) {
      const std::string k = kv.first.as<std::string>();
      bool ok = false;
      for (const char* a : allowed)
        ok = ok || k == a;
      if (!ok) {
        std::string list;
        for (const char* a : allowed)
          list += (list.empty() ? "" : ", ") + std::string(a);
        fail(kv.first, where.empty() ? k : where + "." + k, "unknown key (allowed: " + list + ")");
      }
    }
  }
  double number(const YAML::Node& n, const std::string& key, double lo, double hi) const {
    double v;
    try {
      v = n.as<double>();
    } catch (const YAML::Exception&) {
      fail(n, key,
           "'" + (n.IsScalar() ? n.Scalar() : std::string("<non-scalar>")) + "' is not a number");
    }
    if (!(v >= lo && v <= hi)) {
      std::ostringstream r;
      r << "value " << n.Scalar() << " out of range " << lo << ".." << hi;
      fail(n, key, r.str());
    }
    return v;
  }
  uint32_t integer(const YAML::Node& n, const std::string& key, double lo, double hi) const {
    const double v = number(n, key, lo, hi);
    if (v != double(uint64_t(v))) fail(n, key, "value " + n.Scalar() + " must be a whole number");
    return uint32_t(v);
  }
  bool boolean(const YAML::Node& n, const std::string& key) const {
    try {
      return n.as<bool>();
    } catch (const YAML::Exception&) {
      fail(n, key, "'" + (n.IsScalar() ? n.Scalar() : std::string()) + "' is not true or false");
    }
  }
  // Bytes as a number or with a K/M/G/T suffix (powers of 1024).
  uint64_t size(const YAML::Node& n, const std::string& key, uint64_t lo, uint64_t hi) const {
    uint64_t v = 0;
    if (!n.IsScalar() || !parse_size(n.Scalar(), &v))
      fail(n, key,
           "'" + (n.IsScalar() ? n.Scalar() : std::string()) +
               "' is not a size (bytes, or a number with K, M, G or T)");
    if (v < lo || v > hi)
      fail(n, key,
           "value " + n.Scalar() + " out of range " + std::to_string(lo) + ".." +
               std::to_string(hi) + " bytes");
    return v;
  }
  std::string string(const YAML::Node& n, const std::string& key) const {
    if (!n.IsScalar()) fail(n, key, "must be a string");
    return n.Scalar();
  }
};

Service parse_service(const Ctx& c, const YAML::Node& n, const std::string& key) {
  // "tcp/25", "udp/53", "tcp/6000-6063", "any/111"
  const std::string s = c.string(n, key);
  const size_t slash = s.find('/');
  Service sv;
  if (slash == std::string::npos)
    c.fail(n, key, "'" + s + "' is not PROTO/PORT (e.g. tcp/25, udp/161, tcp/6000-6063)");
  const std::string p = s.substr(0, slash), ports = s.substr(slash + 1);
  if (p == "tcp")
    sv.proto = 6;
  else if (p == "udp")
    sv.proto = 17;
  else if (p == "any")
    sv.proto = 0;
  else
    c.fail(n, key, "protocol '" + p + "' in '" + s + "' must be tcp, udp or any");
  const size_t dash = ports.find('-');
  try {
    size_t used = 0;
    const unsigned long lo = std::stoul(ports.substr(0, dash), &used);
    if (used != ports.substr(0, dash).size()) throw std::invalid_argument("");
    unsigned long hi = lo;
    if (dash != std::string::npos) {
      hi = std::stoul(ports.substr(dash + 1), &used);
      if (used != ports.substr(dash + 1).size()) throw std::invalid_argument("");
    }
    if (lo > 65535 || hi > 65535 || hi < lo) throw std::out_of_range("");
    sv.port_lo = uint16_t(lo);
    sv.port_hi = uint16_t(hi);
  } catch (const std::exception&) {
    c.fail(n, key, "port '" + ports + "' in '" + s + "' must be 0..65535 or LO-HI");
  }
  return sv;
}

Cidr parse_cidr(const Ctx& c, const YAML::Node& n, const std::string& key) {
  std::string err;
  auto cidr = Cidr::parse(c.string(n, key), &err);
  if (!cidr) c.fail(n, key, err);
  return *cidr;
}

void parse_inventory(const Ctx& c, const YAML::Node& inv, Inventory& out) {
  c.only_keys(inv, "inventory", {"defaults", "hosts"});
  if (const auto d = inv["defaults"]) {
    c.only_keys(d, "inventory.defaults", {"criticality", "system_cm", "network_cm"});
    if (d["criticality"])
      out.defaults.criticality =
          int(c.integer(d["criticality"], "inventory.defaults.criticality", 1, 5));
    if (d["system_cm"])
      out.defaults.system_cm = int(c.integer(d["system_cm"], "inventory.defaults.system_cm", 1, 5));
    if (d["network_cm"])
      out.defaults.network_cm =
          int(c.integer(d["network_cm"], "inventory.defaults.network_cm", 1, 5));
  }
  if (const auto hosts = inv["hosts"]) {
    if (!hosts.IsSequence()) c.fail(hosts, "inventory.hosts", "must be a list of hosts or subnets");
    for (size_t i = 0; i < hosts.size(); ++i) {
      const auto h = hosts[i];
      const std::string where = "inventory.hosts[" + std::to_string(i) + "]";
      c.only_keys(h, where,
                  {"address", "name", "criticality", "system_cm", "services", "network_cm"});
      if (!h["address"]) c.fail(h, where + ".address", "missing (an address or CIDR subnet)");
      InventoryEntry e;
      e.net = parse_cidr(c, h["address"], where + ".address");
      if (h["name"]) e.name = c.string(h["name"], where + ".name");
      if (h["criticality"])
        e.criticality = int(c.integer(h["criticality"], where + ".criticality", 1, 5));
      if (h["system_cm"]) e.system_cm = int(c.integer(h["system_cm"], where + ".system_cm", 1, 5));
      if (const auto sv = h["services"]) {
        if (!sv.IsSequence())
          c.fail(sv, where + ".services", "must be a list like [tcp/25, udp/53]");
        for (size_t k = 0; k < sv.size(); ++k)
          e.services.push_back(
              parse_service(c, sv[k], where + ".services[" + std::to_string(k) + "]"));
      }
      if (const auto ncm = h["network_cm"]) {
        if (ncm.IsScalar()) {
          e.network_cm_default = int(c.integer(ncm, where + ".network_cm", 1, 5));
        } else if (ncm.IsMap()) {
          for (const auto& kv : ncm) {
            const std::string k = kv.first.as<std::string>();
            const std::string key = where + ".network_cm." + k;
            const int v = int(c.integer(kv.second, key, 1, 5));
            if (k == "default")
              e.network_cm_default = v;
            else
              e.network_cm.push_back({parse_service(c, kv.first, key), uint8_t(v)});
          }
        } else {
          c.fail(ncm, where + ".network_cm", "must be 1..5 or a map like {default: 5, tcp/25: 1}");
        }
      }
      out.add(std::move(e));
    }
  }
}

// "12345/tcp NetBus": a port, its protocol and a label for the alert.
std::vector<PortLabel> port_list(const Ctx& c, const YAML::Node& n, const std::string& key,
                                 const ParamSpec& s) {
  if (!n.IsSequence())
    c.fail(n, key, "must be a list of \"PORT/PROTO LABEL\" strings, e.g. \"12345/tcp NetBus\"");
  if (n.size() < s.min || n.size() > s.max)
    c.fail(n, key,
           "must list " + std::to_string(int(s.min)) + " to " + std::to_string(int(s.max)) +
               " entries, not " + std::to_string(n.size()));
  std::vector<PortLabel> out;
  for (size_t i = 0; i < n.size(); ++i) {
    const std::string where = key + "[" + std::to_string(i) + "]";
    const std::string text = c.string(n[i], where);
    unsigned port = 0;
    char proto[8] = {};
    int used = 0;
    if (std::sscanf(text.c_str(), "%u/%7[a-z]%n", &port, proto, &used) != 2 || port == 0 ||
        port > 65535 || (std::strcmp(proto, "tcp") != 0 && std::strcmp(proto, "udp") != 0))
      c.fail(n[i], where, "'" + text + "' is not \"PORT/tcp LABEL\" or \"PORT/udp LABEL\"");
    std::string label = text.substr(size_t(used));
    label.erase(0, label.find_first_not_of(' '));
    if (label.empty() || label.size() > 40)
      c.fail(n[i], where, "'" + text + "' needs a label of 1 to 40 characters after the port");
    out.push_back({uint16_t(port), uint8_t(proto[0] == 't' ? 6 : 17), label});
  }
  return out;
}

void parse_detectors(const Ctx& c, const YAML::Node& dets, Config& cfg) {
  if (!dets.IsMap()) c.fail(dets, "detectors", "must be a mapping of catalog id to settings");
  for (const auto& kv : dets) {
    const std::string id = kv.first.as<std::string>();
    const int idx = find_detector(id);
    if (idx < 0) {
      std::string list;
      for (const auto* d : detector_registry())
        list += (list.empty() ? "" : ", ") + std::string(d->id);
      c.fail(kv.first, "detectors." + id, "unknown detector (this build has: " + list + ")");
    }
    DetectorConfig& dc = cfg.detectors[size_t(idx)];
    const auto& node = kv.second;
    if (node.IsNull()) continue;
    if (!node.IsMap())
      c.fail(node, "detectors." + id, "must be a mapping (enabled, lethality, parameters)");
    for (const auto& p : node) {
      const std::string name = p.first.as<std::string>();
      const std::string key = "detectors." + id + "." + name;
      if (name == "enabled") {
        dc.enabled = c.boolean(p.second, key);
        continue;
      }
      if (name == "lethality") {
        dc.lethality = int(c.integer(p.second, key, 1, 5));
        continue;
      }
      bool found = false;
      for (size_t i = 0; i < dc.specs.size(); ++i) {
        const ParamSpec& s = dc.specs[i];
        if (s.name != name) continue;
        found = true;
        if (s.type == ParamType::kPortList) {
          dc.lists.resize(dc.specs.size());
          dc.lists[i] = port_list(c, p.second, key, s);
          dc.values[i] = double(dc.lists[i].size());
        } else {
          dc.values[i] = s.type == ParamType::kCount ? c.integer(p.second, key, s.min, s.max)
                                                     : c.number(p.second, key, s.min, s.max);
        }
      }
      if (!found && id == "horizontal-scan" && name == "answer_grace")
        c.fail(p.first, key,
               "moved to dataplane.flow_table.answer_grace: every scan detector now learns "
               "whether an attempt was answered from the flow table");
      if (!found) {
        std::string list = "enabled, lethality";
        for (const auto& s : dc.specs)
          list += ", " + std::string(s.name);
        c.fail(p.first, key, "unknown parameter (allowed: " + list + ")");
      }
    }
  }
}

constexpr uint64_t kMaxBytes = 1ull << 50;

// outputs.redis: where EVE records go in Redis, and how they are sent.
void parse_redis(const Ctx& c, const YAML::Node& r, RedisOutputConfig& out) {
  c.only_keys(r, "outputs.redis",
              {"server", "port", "socket", "user", "password", "mode", "key", "maxlen", "buffer",
               "drain_timeout"});
  out.enabled = true;
  if (r["server"]) out.server = c.string(r["server"], "outputs.redis.server");
  if (r["port"]) out.port = uint16_t(c.integer(r["port"], "outputs.redis.port", 1, 65535));
  if (r["socket"]) out.socket = c.string(r["socket"], "outputs.redis.socket");
  if (r["user"]) out.user = c.string(r["user"], "outputs.redis.user");
  if (r["password"]) out.password = c.string(r["password"], "outputs.redis.password");
  if (!out.user.empty() && out.password.empty())
    c.fail(r["user"], "outputs.redis.user", "needs a password too");
  if (r["mode"]) {
    const std::string m = c.string(r["mode"], "outputs.redis.mode");
    if (m == "list")
      out.mode = RedisOutputConfig::Mode::kList;
    else if (m == "channel")
      out.mode = RedisOutputConfig::Mode::kChannel;
    else if (m == "stream")
      out.mode = RedisOutputConfig::Mode::kStream;
    else
      c.fail(r["mode"], "outputs.redis.mode", "'" + m + "' is not list, channel or stream");
  }
  if (r["key"]) out.key = c.string(r["key"], "outputs.redis.key");
  if (out.key.empty()) c.fail(r, "outputs.redis.key", "must not be empty");
  if (r["maxlen"]) out.maxlen = c.integer(r["maxlen"], "outputs.redis.maxlen", 0, 4e9);
  if (out.maxlen && out.mode != RedisOutputConfig::Mode::kStream)
    c.fail(r["maxlen"], "outputs.redis.maxlen", "applies to mode: stream only");
  if (r["buffer"]) out.buffer = c.integer(r["buffer"], "outputs.redis.buffer", 1, 1 << 24);
  if (r["drain_timeout"])
    out.drain_timeout = c.number(r["drain_timeout"], "outputs.redis.drain_timeout", 0, 3600);
}

// correlation: host events to Redis Streams (sensors) and back (correlators).
void parse_correlation(const Ctx& c, const YAML::Node& r, CorrelationConfig& out) {
  const std::string k = "correlation.";
  c.only_keys(r, "correlation",
              {"server", "port", "socket", "user", "password", "key", "partitions", "sensor",
               "maxlen", "buffer", "drain_timeout", "group", "consumer", "sensors", "lateness",
               "hold", "sensor_timeout", "lease", "trim"});
  if (r["server"]) out.redis.server = c.string(r["server"], k + "server");
  if (r["port"]) out.redis.port = uint16_t(c.integer(r["port"], k + "port", 1, 65535));
  if (r["socket"]) out.redis.socket = c.string(r["socket"], k + "socket");
  if (r["user"]) out.redis.user = c.string(r["user"], k + "user");
  if (r["password"]) out.redis.password = c.string(r["password"], k + "password");
  if (!out.redis.user.empty() && out.redis.password.empty())
    c.fail(r["user"], k + "user", "needs a password too");
  if (r["key"]) out.key = c.string(r["key"], k + "key");
  if (out.key.empty() || out.key.find_first_of("{}") != std::string::npos)
    c.fail(r["key"] ? r["key"] : r, k + "key",
           "must be a non-empty name without braces (the partition is the hash tag)");
  if (r["partitions"]) out.partitions = c.integer(r["partitions"], k + "partitions", 1, 1024);
  if (r["sensor"]) {
    out.sensor = c.string(r["sensor"], k + "sensor");
    if (out.sensor.empty() || out.sensor.size() > 256)
      c.fail(r["sensor"], k + "sensor", "a sensor name is 1 to 256 characters");
  }
  if (r["maxlen"]) out.maxlen = c.integer(r["maxlen"], k + "maxlen", 0, 4e9);
  if (r["buffer"]) out.buffer = c.integer(r["buffer"], k + "buffer", 1024, 1 << 26);
  if (r["drain_timeout"])
    out.drain_timeout = c.number(r["drain_timeout"], k + "drain_timeout", 0, 3600);
  if (r["group"]) out.group = c.string(r["group"], k + "group");
  if (out.group.empty()) c.fail(r, k + "group", "must not be empty");
  if (r["consumer"]) out.consumer = c.string(r["consumer"], k + "consumer");
  if (const auto ss = r["sensors"]) {
    if (!ss.IsSequence()) c.fail(ss, k + "sensors", "must be a list of sensor names");
    out.sensors.clear();
    for (const auto& n : ss) {
      out.sensors.push_back(c.string(n, k + "sensors"));
      if (out.sensors.back().empty() || out.sensors.back().size() > 256)
        c.fail(n, k + "sensors", "a sensor name is 1 to 256 characters");
      if (out.sensors.size() > 4096) c.fail(ss, k + "sensors", "at most 4096 sensors");
    }
  }
  auto secs = [&](const char* name, double lo, double hi) {
    return uint64_t(c.number(r[name], k + name, lo, hi) * 1e9);
  };
  if (r["lateness"]) out.lateness_ns = secs("lateness", 0, 30 * 86400.0);
  if (r["hold"]) out.hold_ns = secs("hold", 0, 30 * 86400.0);
  if (r["sensor_timeout"]) out.sensor_timeout_ms = secs("sensor_timeout", 1, 86400) / 1'000'000;
  if (r["lease"]) out.lease_ms = uint32_t(secs("lease", 1, 600) / 1'000'000);
  if (r["trim"]) out.trim = c.boolean(r["trim"], k + "trim");
}

void parse_capture(const Ctx& c, const YAML::Node& cap, CaptureConfig& out) {
  c.only_keys(cap, "capture", {"write", "filter", "snaplen", "rotate", "keep", "incidents"});
  if (cap["write"]) out.write = c.string(cap["write"], "capture.write");
  if (cap["filter"]) out.filter = c.string(cap["filter"], "capture.filter");
  if (cap["snaplen"]) out.snaplen = c.integer(cap["snaplen"], "capture.snaplen", 64, 262144);
  if (const auto r = cap["rotate"]) {
    c.only_keys(r, "capture.rotate", {"size", "seconds"});
    if (r["size"])
      out.rotation.file_bytes = c.size(r["size"], "capture.rotate.size", 4096, kMaxBytes);
    if (r["seconds"])
      out.rotation.file_seconds = c.integer(r["seconds"], "capture.rotate.seconds", 1, 86400 * 366);
  }
  if (const auto k = cap["keep"]) {
    c.only_keys(k, "capture.keep", {"files", "size"});
    if (k["files"]) out.rotation.keep_files = c.integer(k["files"], "capture.keep.files", 1, 1e9);
    if (k["size"])
      out.rotation.keep_bytes = c.size(k["size"], "capture.keep.size", 4096, kMaxBytes);
  }
  if (const auto i = cap["incidents"]) {
    auto& ic = out.incidents;
    c.only_keys(i, "capture.incidents",
                {"dir", "before", "after", "ring_packets", "snaplen", "max_packets", "max_files",
                 "max_size"});
    if (i["dir"]) ic.dir = c.string(i["dir"], "capture.incidents.dir");
    if (i["before"]) ic.before_s = c.integer(i["before"], "capture.incidents.before", 0, 86400);
    if (i["after"]) ic.after_s = c.integer(i["after"], "capture.incidents.after", 0, 86400);
    if (i["ring_packets"])
      ic.ring_packets =
          c.integer(i["ring_packets"], "capture.incidents.ring_packets", 256, 1u << 24);
    if (i["snaplen"]) ic.snaplen = c.integer(i["snaplen"], "capture.incidents.snaplen", 64, 65535);
    if (i["max_packets"])
      ic.max_packets = c.integer(i["max_packets"], "capture.incidents.max_packets", 1, 1u << 24);
    if (i["max_files"])
      ic.max_files = c.integer(i["max_files"], "capture.incidents.max_files", 1, 1e9);
    if (i["max_size"])
      ic.max_bytes = c.size(i["max_size"], "capture.incidents.max_size", 65536, kMaxBytes);
  }
}

void parse_root(const Ctx& c, const YAML::Node& root, Config& cfg) {
  if (root.IsNull()) return;
  c.only_keys(root, "",
              {"dataplane", "home_networks", "inventory", "detectors", "incidents", "outputs",
               "capture", "control", "correlation"});
  if (const auto dp = root["dataplane"]) {
    c.only_keys(dp, "dataplane",
                {"eal_args", "ports", "workers", "batch_size", "mbufs", "flow_table", "pdump"});
    if (dp["pdump"]) cfg.pdump = c.boolean(dp["pdump"], "dataplane.pdump");
    if (dp["workers"]) cfg.workers = c.integer(dp["workers"], "dataplane.workers", 1, 64);
    if (dp["batch_size"])
      cfg.batch_size = c.integer(dp["batch_size"], "dataplane.batch_size", 32, 1024);
    if (dp["mbufs"]) cfg.mbufs = c.integer(dp["mbufs"], "dataplane.mbufs", 1023, 16777215);
    if (const auto ea = dp["eal_args"]) {
      if (!ea.IsSequence()) c.fail(ea, "dataplane.eal_args", "must be a list of strings");
      cfg.eal_args.clear();
      for (size_t i = 0; i < ea.size(); ++i)
        cfg.eal_args.push_back(c.string(ea[i], "dataplane.eal_args"));
    }
    if (const auto ports = dp["ports"]) {
      if (!ports.IsSequence()) c.fail(ports, "dataplane.ports", "must be a list of ports");
      cfg.ports.clear();
      for (size_t i = 0; i < ports.size(); ++i) {
        const std::string where = "dataplane.ports[" + std::to_string(i) + "]";
        c.only_keys(ports[i], where, {"device", "rx_queues", "rx_descriptors"});
        PortConfig pc;
        if (!ports[i]["device"])
          c.fail(ports[i], where + ".device", "missing (PCI address or vdev string)");
        pc.device = c.string(ports[i]["device"], where + ".device");
        if (ports[i]["rx_queues"])
          pc.rx_queues = uint16_t(c.integer(ports[i]["rx_queues"], where + ".rx_queues", 1, 128));
        if (ports[i]["rx_descriptors"])
          pc.rx_descriptors =
              uint16_t(c.integer(ports[i]["rx_descriptors"], where + ".rx_descriptors", 64, 32768));
        cfg.ports.push_back(pc);
      }
    }
    if (const auto ft = dp["flow_table"]) {
      c.only_keys(ft, "dataplane.flow_table", {"capacity", "timeouts", "answer_grace"});
      if (ft["capacity"])
        cfg.flow_capacity =
            c.integer(ft["capacity"], "dataplane.flow_table.capacity", 1024, 1u << 28);
      if (const auto to = ft["timeouts"]) {
        c.only_keys(to, "dataplane.flow_table.timeouts",
                    {"syn_sent", "established", "closed", "udp", "other"});
        auto set = [&](const char* k, uint32_t& v) {
          if (to[k])
            v = c.integer(to[k], std::string("dataplane.flow_table.timeouts.") + k, 1, 86400 * 7);
        };
        set("syn_sent", cfg.timeouts.syn_sent_s);
        set("established", cfg.timeouts.established_s);
        set("closed", cfg.timeouts.closed_s);
        set("udp", cfg.timeouts.udp_s);
        set("other", cfg.timeouts.other_s);
      }
      if (ft["answer_grace"])
        cfg.timeouts.answer_grace_ms = uint32_t(std::lround(
            c.number(ft["answer_grace"], "dataplane.flow_table.answer_grace", 0.001, 60) * 1e3));
      // A flow that timed out before its grace ran out would be reported
      // early; the grace is for an answer, the timeouts for silence.
      const FlowTimeouts& t = cfg.timeouts;
      const uint32_t shortest =
          std::min({t.syn_sent_s, t.established_s, t.closed_s, t.udp_s, t.other_s});
      if (t.answer_grace_ms >= uint64_t(shortest) * 1000)
        c.fail(ft, "dataplane.flow_table.answer_grace",
               "must be shorter than every flow timeout (the shortest is " +
                   std::to_string(shortest) + " s)");
    }
  }
  if (const auto hn = root["home_networks"]) {
    if (!hn.IsSequence()) c.fail(hn, "home_networks", "must be a list of CIDR prefixes");
    cfg.home = PrefixSet();
    for (size_t i = 0; i < hn.size(); ++i)
      cfg.home.add(parse_cidr(c, hn[i], "home_networks[" + std::to_string(i) + "]"));
  }
  if (const auto inv = root["inventory"]) parse_inventory(c, inv, cfg.inventory);
  if (const auto dets = root["detectors"]) parse_detectors(c, dets, cfg);
  if (const auto inc = root["incidents"]) {
    c.only_keys(inc, "incidents",
                {"fusion", "lookahead", "window", "capacity", "max_fold_updates"});
    FusionConfig& f = cfg.fusion;
    if (inc["fusion"]) f.enabled = c.boolean(inc["fusion"], "incidents.fusion");
    if (inc["lookahead"])
      f.lookahead_ns = uint64_t(c.number(inc["lookahead"], "incidents.lookahead", 0, 600) * 1e9);
    if (inc["window"])
      f.window_ns = uint64_t(c.number(inc["window"], "incidents.window", 1, 2592000) * 1e9);
    if (inc["capacity"])
      f.capacity = c.integer(inc["capacity"], "incidents.capacity", 256, 1 << 24);
    if (inc["max_fold_updates"])
      f.max_fold_updates = c.integer(inc["max_fold_updates"], "incidents.max_fold_updates", 0, 64);
  }
  if (const auto out = root["outputs"]) {
    c.only_keys(out, "outputs", {"eve", "fast", "summary", "redis"});
    if (out["eve"]) cfg.eve = c.string(out["eve"], "outputs.eve");
    if (out["fast"]) cfg.fast = c.string(out["fast"], "outputs.fast");
    if (out["summary"]) cfg.summary = c.boolean(out["summary"], "outputs.summary");
    if (const auto r = out["redis"]) parse_redis(c, r, cfg.redis);
  }
  if (const auto cap = root["capture"]) parse_capture(c, cap, cfg.capture);
  if (const auto cor = root["correlation"]) parse_correlation(c, cor, cfg.correlation);
  if (const auto ctl = root["control"]) {
    c.only_keys(ctl, "control", {"socket", "group", "metrics", "idle_timeout"});
    if (ctl["socket"]) cfg.control_socket = c.string(ctl["socket"], "control.socket");
    if (ctl["group"]) cfg.control_group = c.string(ctl["group"], "control.group");
    if (ctl["idle_timeout"])
      cfg.control_idle_timeout_s =
          int(c.integer(ctl["idle_timeout"], "control.idle_timeout", 1, 86400));
    if (ctl["metrics"]) {
      cfg.metrics = c.string(ctl["metrics"], "control.metrics");
      sockaddr_storage addr;
      socklen_t len;
      std::string why;
      if (!cfg.metrics.empty() && !parse_listen_address(cfg.metrics, &addr, &len, &why))
        c.fail(ctl["metrics"], "control.metrics", why);
    }
  }
}

YAML::Node parse_text(const std::string& text, const std::string& name) {
  try {
    return YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw ConfigError(name + ":" + std::to_string(e.mark.line + 1) +
                      ": YAML syntax error: " + e.msg);
  }
}

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw ConfigError(path + ": cannot open: " + std::strerror(errno));
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

}  // namespace

namespace {
// What `status` reports runs: the bytes parsed, not the files as they are now.
void mix_hash(Config& cfg, const std::string& text) {
  for (unsigned char ch : text)
    cfg.text_hash = (cfg.text_hash ^ ch) * 1099511628211ull;
}
}  // namespace

std::string Config::hash() const {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%016llx", (unsigned long long)text_hash);
  return buf;
}

void apply_config_yaml(Config& cfg, const std::string& text, const std::string& name) {
  mix_hash(cfg, text);
  Ctx c{name};
  const YAML::Node root = parse_text(text, name);
  try {
    parse_root(c, root, cfg);
  } catch (const YAML::Exception& e) {
    throw ConfigError(name + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  cfg.sources.push_back(name);
}

Config load_config(const std::string& path) {
  Config cfg;
  const auto reg = detector_registry();
  for (size_t i = 0; i < reg.size(); ++i) {
    DetectorConfig dc;
    dc.index = uint16_t(i);
    dc.lethality = reg[i]->default_lethality;
    dc.specs = reg[i]->params;
    for (const auto& s : reg[i]->params)
      dc.values.push_back(s.def);
    cfg.detectors.push_back(dc);
  }
  apply_config_yaml(cfg, default_config_yaml(), "<built-in defaults>");
  if (!path.empty()) apply_config_yaml(cfg, read_file(path), path);
  return cfg;
}

void load_inventory_file(Config& cfg, const std::string& path) {
  Ctx c{path};
  const std::string text = read_file(path);
  mix_hash(cfg, text);
  const YAML::Node root = parse_text(text, path);
  cfg.inventory = Inventory();
  try {
    // Accept the section itself or a file holding `inventory:` at the top.
    parse_inventory(c, root["inventory"] ? root["inventory"] : root, cfg.inventory);
  } catch (const YAML::Exception& e) {
    throw ConfigError(path + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

void set_home_networks(Config& cfg, const std::string& csv, const std::string& origin) {
  cfg.home = PrefixSet();
  std::stringstream ss(csv);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    std::string err;
    auto c = Cidr::parse(item, &err);
    if (!c) throw ConfigError(origin + ": " + err);
    cfg.home.add(*c);
  }
  if (cfg.home.empty()) throw ConfigError(origin + ": no home network given");
}

std::vector<std::string> restart_only_changes(const Config& a, const Config& b) {
  std::vector<std::string> out;
  auto number = [&](const char* key, auto x, auto y) {
    if (x != y)
      out.push_back(std::string(key) + " (" + std::to_string(x) + " -> " + std::to_string(y) + ")");
  };
  auto text = [&](const char* key, const std::string& x, const std::string& y) {
    if (x != y) out.push_back(std::string(key) + " ('" + x + "' -> '" + y + "')");
  };
  auto same = [&](const char* key, bool equal) {
    if (!equal) out.push_back(key);
  };
  same("dataplane.eal_args", a.eal_args == b.eal_args);
  same("dataplane.ports", a.ports == b.ports);
  number("dataplane.workers", a.workers, b.workers);
  number("dataplane.batch_size", a.batch_size, b.batch_size);
  number("dataplane.mbufs", a.mbufs, b.mbufs);
  number("dataplane.flow_table.capacity", a.flow_capacity, b.flow_capacity);
  same("dataplane.flow_table.timeouts", a.timeouts == b.timeouts);
  same("dataplane.pdump", a.pdump == b.pdump);
  same("incidents", a.fusion == b.fusion);
  text("outputs.eve", a.eve, b.eve);
  text("outputs.fast", a.fast, b.fast);
  same("outputs.summary", a.summary == b.summary);
  same("outputs.redis", a.redis == b.redis);
  same("capture", a.capture == b.capture);
  same("correlation", a.correlation == b.correlation);
  text("control.socket", a.control_socket, b.control_socket);
  text("control.group", a.control_group, b.control_group);
  number("control.idle_timeout", uint64_t(a.control_idle_timeout_s),
         uint64_t(b.control_idle_timeout_s));
  text("control.metrics", a.metrics, b.metrics);
  // Detector tables are allocated once per shard; their state survives a
  // reload only at the size it was made.
  for (size_t i = 0; i < a.detectors.size() && i < b.detectors.size(); ++i) {
    const DetectorConfig& x = a.detectors[i];
    const DetectorConfig& y = b.detectors[i];
    for (size_t k = 0; k < x.specs.size() && k < y.values.size(); ++k) {
      if (!x.specs[k].name.ends_with("table_size") || x.values[k] == y.values[k]) continue;
      const std::string key = "detectors." + std::string(detector_registry()[i]->id) + "." +
                              std::string(x.specs[k].name);
      number(key.c_str(), uint64_t(x.values[k]), uint64_t(y.values[k]));
    }
  }
  return out;
}

}  // namespace harrier
