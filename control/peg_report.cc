#include "control/peg_report.h"

#include <cstdio>
#include <map>

namespace harrier {

nlohmann::ordered_json pegs_json(const std::vector<PegValues>& tables) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (const PegValues& t : tables) {
    auto& c = j[t.component] = nlohmann::ordered_json::object();
    for (size_t i = 0; i < t.info.size(); ++i)
      c[std::string(t.info[i].name)] = t.values[i];
  }
  return j;
}

std::string pegs_prometheus(const std::vector<PegValues>& tables, std::string_view prefix,
                            std::string_view label) {
  // A family's samples stand together, after its one HELP and TYPE.
  struct Family {
    const PegInfo* info;
    std::string samples;
  };
  std::map<std::string, Family> families;
  for (const PegValues& t : tables)
    for (size_t i = 0; i < t.info.size(); ++i) {
      const PegInfo& p = t.info[i];
      const std::string name = std::string(prefix) + "_" + std::string(p.name) +
                               (p.kind == PegKind::kSum ? "_total" : "");
      Family& f = families.try_emplace(name, Family{&p, {}}).first->second;
      f.samples += name + "{" + std::string(label) + "=\"" + t.component + "\"} " +
                   std::to_string(t.values[i]) + "\n";
    }
  std::string text;
  for (const auto& [name, f] : families)
    text += "# HELP " + name + " " + std::string(f.info->help) + "\n# TYPE " + name + " " +
            (f.info->kind == PegKind::kSum ? "counter" : "gauge") + "\n" + f.samples;
  return text;
}

std::vector<std::string> pegs_lines(const std::vector<PegValues>& tables) {
  std::vector<std::string> lines;
  for (const PegValues& t : tables) {
    std::string line;
    for (size_t i = 0; i < t.info.size(); ++i)
      if (t.info[i].kind == PegKind::kSum && t.values[i])
        line += (line.empty() ? "" : ", ") + std::string(t.info[i].name) + " " +
                std::to_string(t.values[i]);
    if (!line.empty()) lines.push_back(t.component + ": " + line);
  }
  return lines;
}

}  // namespace harrier
