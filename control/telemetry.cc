#include "control/telemetry.h"

#include <cctype>
#include <cstdlib>
#include <mutex>
#include <string>

#include <rte_telemetry.h>

namespace harrier {

namespace {

std::mutex g_mu;  // the callbacks run on the EAL's telemetry thread
LiveStats* g_stats = nullptr;

using json = nlohmann::ordered_json;

// Telemetry names allow letters, digits, '_' and '/' only.
std::string tel_name(std::string s) {
  for (char& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '/') c = '_';
  return s;
}

// Telemetry dictionaries hold integers and strings: flatten an object to
// "a_b" keys (detector ids' '-' become '_'), rates rounded to whole units.
void add_flat(rte_tel_data* d, const std::string& prefix, const json& j) {
  for (const auto& [k, v] : j.items()) {
    const std::string key = tel_name(prefix.empty() ? k : prefix + "_" + k);
    if (v.is_object())
      add_flat(d, key, v);
    else if (v.is_number_unsigned())
      rte_tel_data_add_dict_u64(d, key.c_str(), v.get<uint64_t>());
    else if (v.is_number_integer())
      rte_tel_data_add_dict_int(d, key.c_str(), int(v.get<int64_t>()));
    else if (v.is_number_float() && k == "fill")  // a fraction: as a percentage
      rte_tel_data_add_dict_u64(d, (key + "_percent").c_str(),
                                uint64_t(v.get<double>() * 100 + 0.5));
    else if (v.is_number_float())
      rte_tel_data_add_dict_u64(d, key.c_str(), uint64_t(v.get<double>() + 0.5));
    else if (v.is_string())
      rte_tel_data_add_dict_string(d, key.c_str(), v.get<std::string>().c_str());
    else if (v.is_boolean())
      rte_tel_data_add_dict_int(d, key.c_str(), v.get<bool>() ? 1 : 0);
  }
}

// The one element of `list` the parameter (an index) names, or -1.
int pick(const char* params, size_t n) {
  if (!params || !*params) return -1;
  char* end = nullptr;
  const long i = std::strtol(params, &end, 10);
  return *end == '\0' && i >= 0 && size_t(i) < n ? int(i) : -1;
}

int with_stats_or_throw(rte_tel_data* d, const char* params, const char* what);

int with_stats(rte_tel_data* d, const char* params, const char* what) noexcept {
  try {
    return with_stats_or_throw(d, params, what);
  } catch (const std::exception&) {
    return -1;  // the telemetry thread must never see an exception
  }
}

int with_stats_or_throw(rte_tel_data* d, const char* params, const char* what) {
  std::lock_guard lock(g_mu);
  if (!g_stats) return -1;
  const json s = g_stats->collect();
  rte_tel_data_start_dict(d);
  const std::string w = what;
  if (w == "stats") {
    rte_tel_data_add_dict_u64(d, "uptime_s", uint64_t(s["uptime_s"].get<double>()));
    for (const char* k : {"received", "analysed", "drops", "back_pressure", "decode"})
      add_flat(d, k, s[k]);
    rte_tel_data_add_dict_u64(d, "alerts_emitted", s["alerts"]["emitted"].get<uint64_t>());
    rte_tel_data_add_dict_u64(d, "alerts_dropped", s["alerts"]["dropped"].get<uint64_t>());
  } else if (w == "alerts") {
    add_flat(d, "", s["alerts"]["by_detector"]);
  } else {
    const json& list = s[w];
    const int i = pick(params, list.size());
    if (i < 0) return -1;
    json one = list[size_t(i)];
    one.erase("queues");  // a port's queues: /harrier/stats has the totals
    add_flat(d, "", one);
  }
  return 0;
}

int on_stats(const char*, const char* params, rte_tel_data* d) {
  return with_stats(d, params, "stats");
}
int on_ports(const char*, const char* params, rte_tel_data* d) {
  return with_stats(d, params, "ports");
}
int on_workers(const char*, const char* params, rte_tel_data* d) {
  return with_stats(d, params, "workers");
}
int on_alerts(const char*, const char* params, rte_tel_data* d) {
  return with_stats(d, params, "alerts");
}

}  // namespace

bool telemetry_attach(LiveStats* stats) {
  static bool registered = false;
  if (!registered) {
    const bool ok =
        rte_telemetry_register_cmd("/harrier/stats", on_stats,
                                   "harrier: received, analysed, drops by cause, alerts") == 0 &&
        rte_telemetry_register_cmd("/harrier/ports", on_ports,
                                   "harrier: one port's counters. Parameters: int port index") ==
            0 &&
        rte_telemetry_register_cmd(
            "/harrier/workers", on_workers,
            "harrier: one worker's counters. Parameters: int worker index") == 0 &&
        rte_telemetry_register_cmd("/harrier/alerts", on_alerts, "harrier: alerts per detector") ==
            0;
    if (!ok) return false;
    registered = true;
  }
  std::lock_guard lock(g_mu);
  g_stats = stats;
  return true;
}

void telemetry_detach() {
  std::lock_guard lock(g_mu);
  g_stats = nullptr;
}

}  // namespace harrier
