#include "control/control_commands.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <thread>

#include <rte_ethdev.h>

#include "detectors/registry.h"

namespace harrier {

namespace {

using json = nlohmann::ordered_json;

json status(const ControlContext& c) {
  const Config& cfg = c.store->config();
  json ports = json::array();
  for (const PortInput& p : *c.ports)
    ports.push_back({{"port_id", p.port_id}, {"device", p.name}, {"rx_queues", p.rx_queues}});
  const double up =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - c.started).count();
  return {{"version", HARRIER_VERSION},
          {"uptime_s", up},
          {"config",
           {{"files", cfg.sources},
            {"hash", cfg.hash()},
            {"generation", c.store->current()->generation}}},
          {"workers", cfg.workers},
          {"ports", ports},
          {"pdump", c.pdump}};
}

// Prepares `next` (or throws why not, changing nothing), hands it to the dataplane and waits
// (briefly) until no batch runs with an older one; then those are freed. Idle links still move
// batches (the heartbeat), so this takes about one batch or 100 ms.
json apply(const ControlContext& c, const Config& next) {
  std::vector<std::string> changes;
  std::string err;
  const RuntimeSnapshot* s = c.store->prepare(next, &changes, &err);
  if (!s) throw std::invalid_argument(err);  // nothing changed
  c.pipeline->publish(s);
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (c.pipeline->generation_in_effect() < s->generation &&
         std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const uint64_t in_effect = c.pipeline->generation_in_effect();
  c.store->release_before(in_effect);
  return {{"generation", s->generation},
          // false: published, but no batch has carried it yet (a stalled dataplane)
          {"in_effect", in_effect >= s->generation},
          {"changes", changes}};
}

json detector_list(const ControlContext& c) {
  const Config& cfg = c.store->config();
  json list = json::array();
  const auto reg = detector_registry();
  for (size_t i = 0; i < reg.size(); ++i) {
    const DetectorConfig& dc = cfg.detectors[i];
    json params = json::object();
    for (size_t k = 0; k < dc.specs.size(); ++k)
      if (dc.specs[k].type != ParamType::kPortList)
        params[std::string(dc.specs[k].name)] = dc.values[k];
    list.push_back({{"id", reg[i]->id},
                    {"enabled", dc.enabled},
                    {"lethality", dc.lethality},
                    {"alerts", c.pipeline->alerts_of(i)},
                    {"params", params}});
  }
  return {{"detectors", list}};
}

// detectors [list] | enable ID | disable ID: a switch is a reload of the
// running configuration with one flag changed (a later reload from the
// file sets it as the file says).
json detectors(const ControlContext& c, const nlohmann::json& req) {
  const std::string action = req.value("action", std::string("list"));
  if (action == "list") return detector_list(c);
  if (action != "enable" && action != "disable")
    throw std::invalid_argument("action must be list, enable or disable, not '" + action + "'");
  if (!req.contains("id") || !req["id"].is_string())
    throw std::invalid_argument(action + " needs a detector id (\"id\": \"horizontal-scan\")");
  const std::string id = req["id"].get<std::string>();
  const auto reg = detector_registry();
  size_t idx = reg.size();
  std::string known;
  for (size_t i = 0; i < reg.size(); ++i) {
    if (reg[i]->id == id) idx = i;
    known += (known.empty() ? "" : ", ") + std::string(reg[i]->id);
  }
  if (idx == reg.size())
    throw std::invalid_argument("no detector '" + id + "' (known: " + known + ")");
  Config next = c.store->config();
  next.detectors[idx].enabled = action == "enable";
  json out = apply(c, next);
  out["id"] = id;
  out["enabled"] = action == "enable";
  return out;
}

// reload: the configuration files again (the command line's options over
// them, as at start). Home networks, inventory and detector settings change
// between two batches; flow tables and detector state carry on.
json reload(const ControlContext& c) {
  Config next;
  try {
    next = c.reload_config();
  } catch (const ConfigError& e) {
    throw std::invalid_argument(std::string("nothing was changed: ") + e.what());
  }
  json out = apply(c, next);
  out["config"] = {{"files", next.sources}, {"hash", next.hash()}};
  return out;
}

json capture(const ControlContext& c, const nlohmann::json& req) {
  const std::string action = req.value("action", std::string("status"));
  if (action != "status" && action != "start" && action != "stop")
    throw std::invalid_argument("action must be status, start or stop, not '" + action + "'");
  if (action != "status") {
    if (!c.capture)
      throw std::invalid_argument(
          "no recording is configured (capture.write); set it in the config and restart");
    c.capture->set_paused(action == "stop");
  }
  json out;
  if (c.capture) {
    const PcapngCounters k = c.capture->counters();
    out["recording"] = {{"path", c.capture->path()},
                        {"state", c.capture->paused() ? "stopped" : "recording"},
                        {"filter", c.capture_filter ? c.capture_filter->expression() : ""},
                        {"packets", k.written},
                        {"bytes", k.bytes},
                        {"dropped_behind", k.dropped_full},
                        {"write_errors", k.write_errors},
                        {"files_created", k.files_created},
                        {"files_deleted", k.files_deleted},
                        {"files_kept", k.files_kept},
                        {"bytes_kept", k.bytes_kept}};
  } else {
    out["recording"] = nullptr;
  }
  if (c.incidents) {
    const IncidentCounters k = c.incidents->counters();
    out["incidents"] = {{"dir", c.incidents->dir()},
                        {"files", k.files},
                        {"packets", k.packets},
                        {"bytes", k.bytes},
                        {"skipped_files_cap", k.skipped_files_cap},
                        {"skipped_busy", k.skipped_busy},
                        {"packets_capped", k.packets_capped},
                        {"packets_dropped", k.packets_dropped},
                        {"ring_misses", k.ring_misses},
                        {"write_errors", k.write_errors}};
  } else {
    out["incidents"] = nullptr;
  }
  return out;
}

// A whole-number field of a request in [lo, hi], or `fallback` when absent.
// Anything else is refused by name: a fraction or a float beyond int64
// would otherwise reach a conversion whose result is undefined.
int64_t int_field(const nlohmann::json& req, const char* key, int64_t fallback, int64_t lo,
                  int64_t hi) {
  const auto it = req.find(key);
  if (it == req.end()) return fallback;
  int64_t v = 0;
  bool whole = true;
  if (it->is_number_unsigned())  // JSON integers above int64's range come as unsigned
    v = int64_t(std::min<uint64_t>(it->get<uint64_t>(), INT64_MAX));
  else if (it->is_number_integer())
    v = it->get<int64_t>();
  else
    whole = false;
  if (!whole || v < lo || v > hi)
    throw std::invalid_argument(std::string(key) + " must be a whole number from " +
                                std::to_string(lo) + " to " + std::to_string(hi));
  return v;
}

// alerts tail: the latest alerts' EVE records, oldest first. `after` (the
// `last` of an earlier reply) returns only newer ones: harrierctl --follow
// asks again with it.
json alerts(const ControlContext& c, const nlohmann::json& req) {
  const std::string action = req.value("action", std::string("tail"));
  if (action != "tail") throw std::invalid_argument("action must be tail, not '" + action + "'");
  const int64_t n = int_field(req, "n", 10, 1, 1000);  // the alerts kept
  const int64_t after = int_field(req, "after", 0, 0, INT64_MAX);
  uint64_t last = 0;
  json list = json::array();
  for (const std::string& line : c.output->recent(uint64_t(after), size_t(n), &last))
    list.push_back(json::parse(line));
  return {{"last", last}, {"alerts", list}};
}

}  // namespace

std::map<std::string, ControlServer::Handler> control_handlers(const ControlContext& ctx) {
  return {
      {"status", [ctx](const nlohmann::json&) { return status(ctx); }},
      {"stats", [ctx](const nlohmann::json&) { return ctx.stats->collect(); }},
      {"detectors", [ctx](const nlohmann::json& r) { return detectors(ctx, r); }},
      {"reload", [ctx](const nlohmann::json&) { return reload(ctx); }},
      {"alerts", [ctx](const nlohmann::json& r) { return alerts(ctx, r); }},
      {"capture", [ctx](const nlohmann::json& r) { return capture(ctx, r); }},
      {"shutdown",
       [ctx](const nlohmann::json&) {
         ctx.pipeline->stop();
         return json{{"stopping", true}};
       }},
  };
}

}  // namespace harrier
