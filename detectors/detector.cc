#include "detectors/detector.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include <rte_hash_crc.h>

#include "dataplane/softrss.h"

namespace harrier {

uint16_t host_shard_of(const IpAddr& key, uint32_t n_host_shards) noexcept {
  // An aligned copy: rte_hash_crc loads 8 bytes at a time, and an IpAddr
  // (17 bytes) sits at any offset.
  uint64_t w[2];
  std::memcpy(w, key.bytes, sizeof w);
  return uint16_t(hash_to_shard(rte_hash_crc(w, sizeof w, key.family), n_host_shards));
}

const char* target_order_name(TargetOrder o) {
  switch (o) {
    case TargetOrder::kSingle:
      return "single";
    case TargetOrder::kAscending:
      return "ascending";
    case TargetOrder::kDescending:
      return "descending";
    case TargetOrder::kRandom:
      return "random";
  }
  return "unknown";
}

double DetectorConfig::get(std::string_view name) const {
  for (size_t i = 0; i < specs.size(); ++i)
    if (specs[i].name == name) return values.at(i);
  std::fprintf(stderr, "harrier: internal error: detector parameter '%.*s' is not declared\n",
               int(name.size()), name.data());
  std::abort();
}

const std::vector<PortLabel>* DetectorConfig::port_list(std::string_view name) const {
  for (size_t i = 0; i < specs.size(); ++i)
    if (specs[i].name == name) return i < lists.size() && !lists[i].empty() ? &lists[i] : nullptr;
  std::fprintf(stderr, "harrier: internal error: detector parameter '%.*s' is not declared\n",
               int(name.size()), name.data());
  std::abort();
}

nlohmann::ordered_json listed_targets(const Alert& a) {
  auto out = nlohmann::ordered_json::array();
  for (uint32_t i = 0; i < std::min<uint32_t>(a.n_targets, Alert::kMaxTargets); ++i)
    out.push_back(ip_to_string(a.targets[i]));
  return out;
}

std::string update_suffix(const Alert& a) {
  return a.update ? " (update " + std::to_string(a.update) + ")" : "";
}

std::string format_count(uint64_t n) {
  std::string s = std::to_string(n);
  for (int i = int(s.size()) - 3; i > 0; i -= 3)
    s.insert(size_t(i), ",");
  return s;
}

std::string format_seconds(double s) {
  char buf[32];
  if (s < 10)
    std::snprintf(buf, sizeof(buf), "%.2f s", s);
  else if (s < 100)
    std::snprintf(buf, sizeof(buf), "%.1f s", s);
  else if (s < 600)
    std::snprintf(buf, sizeof(buf), "%.0f s", s);
  else if (s < 7200)  // slow scans and sweeps: minutes, hours, days read better
    std::snprintf(buf, sizeof(buf), "%.0f min", s / 60);
  else if (s < 172800)
    std::snprintf(buf, sizeof(buf), "%.1f h", s / 3600);
  else
    std::snprintf(buf, sizeof(buf), "%.1f days", s / 86400);
  return buf;
}

std::string proto_name(uint8_t proto) {
  switch (proto) {
    case 6:
      return "tcp";
    case 17:
      return "udp";
    case 1:
      return "icmp";
    case 58:
      return "icmp6";
    default:
      return std::to_string(proto);
  }
}

std::string format_tcp_flags(uint16_t f) {
  static constexpr struct {
    uint16_t bit;
    const char* name;
  } kNames[] = {{tcp_flag::kSyn, "SYN"},     {tcp_flag::kFin, "FIN"}, {tcp_flag::kRst, "RST"},
                {tcp_flag::kPsh, "PSH"},     {tcp_flag::kAck, "ACK"}, {tcp_flag::kUrg, "URG"},
                {tcp_flag::kEce, "ECE"},     {tcp_flag::kCwr, "CWR"}, {tcp_flag::kNs, "NS"},
                {tcp_flag::kReserved, "RES"}};
  std::string s;
  for (const auto& n : kNames)
    if (f & n.bit) s += s.empty() ? n.name : std::string("|") + n.name;
  return s.empty() ? "NULL" : s;
}

std::string eve_timestamp(uint64_t ns) {
  const time_t secs = time_t(ns / 1'000'000'000ull);
  const unsigned usec = unsigned((ns % 1'000'000'000ull) / 1000);
  tm t{};
  gmtime_r(&secs, &t);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%06u+0000", t.tm_year + 1900,
                t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, usec);
  return buf;
}

}  // namespace harrier
