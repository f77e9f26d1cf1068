#include "app/explain_command.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <stdexcept>
#include <tuple>

#include <nlohmann/json.hpp>

#include "detectors/explain.h"

namespace harrier {

std::string eve_text(const nlohmann::ordered_json& j, const char* key) {
  const auto it = j.find(key);
  return it == j.end() ? std::string() : it->is_string() ? it->get<std::string>() : it->dump();
}

namespace {

using Json = nlohmann::ordered_json;

// Alerts of one incident carry its id (harrier.incident.id: every detector
// that saw the activity). Without one (fusion off, older files), alerts of
// one detector's incident share detector, source and first packet time (the
// evidence's first_seen); detectors without it fall back to one alert each.
std::string incident_key(const Json& a) {
  std::string first;
  if (const auto hr = a.find("harrier"); hr != a.end() && hr->is_object()) {
    if (const auto inc = hr->find("incident"); inc != hr->end() && inc->is_object())
      if (const std::string id = eve_text(*inc, "id"); !id.empty()) return "incident|" + id;
    if (const auto ev = hr->find("evidence"); ev != hr->end() && ev->is_object())
      first = eve_text(*ev, "first_seen");
  }
  return eve_text(a, "detector") + "|" + eve_text(a, "src_ip") + "|" +
         (first.empty() ? eve_text(a, "dest_ip") + "|" + eve_text(a, "timestamp") : first);
}

}  // namespace

int read_eve_alerts(const ExplainOptions& opts, std::vector<Json>* out, uint64_t* folded) {
  int status = 0;
  std::vector<Json>& chosen = *out;
  std::map<std::string, size_t> latest;  // incident -> index in chosen
  for (const std::string& path : opts.files) {
    std::ifstream file;
    std::istream* in = &std::cin;
    if (path != "-") {
      file.open(path);
      if (!file) {
        std::fprintf(stderr, "harrier: %s: cannot open: %s\n", path.c_str(), std::strerror(errno));
        return 2;
      }
      in = &file;
    }
    std::string line;
    for (uint64_t n = 1; std::getline(*in, line); ++n) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      Json a;
      try {
        a = Json::parse(line);
      } catch (const nlohmann::json::exception& e) {
        std::fprintf(stderr, "harrier: %s:%llu: not JSON: %s\n", path.c_str(),
                     (unsigned long long)n, e.what());
        status = 1;
        continue;
      }
      if (folded && a.is_object() && eve_text(a, "event_type") == "folded") ++*folded;
      if (!a.is_object() || eve_text(a, "event_type") != "alert") continue;  // stats and the like
      if (!opts.detector.empty() && eve_text(a, "detector") != opts.detector) continue;
      if (opts.all) {
        chosen.push_back(std::move(a));
        continue;
      }
      const auto [it, fresh] = latest.try_emplace(incident_key(a), chosen.size());
      if (fresh)
        chosen.push_back(std::move(a));
      else
        chosen[it->second] = std::move(a);  // a later update knows more
    }
  }
  return status;
}

int run_explain(const ExplainOptions& opts) {
  std::vector<Json> chosen;
  int status = read_eve_alerts(opts, &chosen);
  if (status == 2) return status;
  for (size_t i = 0; i < chosen.size(); ++i) {
    try {
      std::fputs((i ? "\n" + std::string(78, '-') + "\n\n" : std::string()).c_str(), stdout);
      std::fputs(explain_alert(chosen[i]).c_str(), stdout);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "harrier: alert %zu (%s): %s\n", i + 1,
                   eve_text(chosen[i], "timestamp").c_str(), e.what());
      status = 1;
    }
  }
  if (chosen.empty()) std::fputs("No alerts to explain.\n", stdout);
  return status;
}

}  // namespace harrier
