#include "control/control_commands.h"

#include <cstdio>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include <rte_ethdev.h>

#include "detectors/registry.h"

namespace harrier {

std::string config_hash(const std::vector<std::string>& sources) {
  uint64_t h = 1469598103934665603ull;
  for (const std::string& name : sources) {
    std::ifstream f(name, std::ios::binary);
    const std::string text = f ? std::string(std::istreambuf_iterator<char>(f), {}) : name;
    for (unsigned char c : text)
      h = (h ^ c) * 1099511628211ull;
  }
  char buf[24];
  std::snprintf(buf, sizeof buf, "%016llx", (unsigned long long)h);
  return buf;
}

namespace {

using json = nlohmann::ordered_json;

json status(const ControlContext& c) {
  json ports = json::array();
  for (const PortInput& p : *c.ports)
    ports.push_back({{"port_id", p.port_id}, {"device", p.name}, {"rx_queues", p.rx_queues}});
  const double up =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - c.started).count();
  return {{"version", HARRIER_VERSION},
          {"uptime_s", up},
          {"config", {{"files", c.cfg->sources}, {"hash", config_hash(c.cfg->sources)}}},
          {"workers", c.cfg->workers},
          {"ports", ports},
          {"pdump", c.pdump}};
}

json stats(const ControlContext& c) {
  const PipelineCounters pc = c.pipeline->live_counters();
  json ports = json::array();
  for (const PortInput& p : *c.ports) {
    rte_eth_stats st{};
    if (rte_eth_stats_get(p.port_id, &st) != 0) continue;
    ports.push_back(
        {{"device", p.name},
         {"packets", st.ipackets},
         {"bytes", st.ibytes},
         {"drops",
          {{"imissed", st.imissed}, {"ierrors", st.ierrors}, {"rx_nombuf", st.rx_nombuf}}}});
  }
  // Per worker: its flow shard's and host shard's counts as of their last
  // batch (published under a sequence lock: never torn, never counted twice).
  json workers = json::array();
  uint64_t alerts_dropped_in_shards = 0;
  for (size_t i = 0; i < c.pipeline->flow_shards().size(); ++i) {
    const FlowShardSnapshot f = c.pipeline->flow_shards()[i]->snapshot();
    const HostShardCounters hs = c.pipeline->host_shards()[i]->snapshot();
    uint64_t undecodable = 0;
    for (uint64_t e : f.shard.decode_errors)
      undecodable += e;
    alerts_dropped_in_shards += f.shard.alerts_dropped + hs.alerts_dropped;
    workers.push_back(
        {{"worker", i},
         {"packets", f.shard.packets},
         {"bytes", f.shard.bytes},
         {"non_ip", f.shard.non_ip},
         {"undecodable", undecodable},
         {"flows",
          {{"in_table", f.flows},
           {"capacity", f.flow_capacity},
           {"fill", f.flow_capacity ? double(f.flows) / double(f.flow_capacity) : 0.0},
           {"created", f.table.inserts},
           {"expired", f.table.expired},
           {"evicted", f.table.evicted},
           {"not_stored", f.table.insert_failures}}},
         {"host_events",
          {{"raised", f.shard.events},
           {"dropped", f.shard.events_dropped},
           {"capped", f.shard.events_capped}}},
         {"alerts", f.shard.alerts + hs.alerts}});
  }
  return {{"analysed", {{"packets", pc.packets}, {"batches", pc.batches}}},
          {"alerts",
           {{"emitted", pc.alerts}, {"dropped", pc.alerts_dropped + alerts_dropped_in_shards}}},
          {"ports", ports},
          {"workers", workers}};
}

json detectors(const ControlContext& c) {
  json list = json::array();
  const auto reg = detector_registry();
  for (size_t i = 0; i < reg.size(); ++i) {
    const DetectorConfig& dc = c.cfg->detectors[i];
    json params = json::object();
    for (size_t k = 0; k < dc.specs.size(); ++k)
      if (dc.specs[k].type != ParamType::kPortList)
        params[std::string(dc.specs[k].name)] = dc.values[k];
    list.push_back({{"id", reg[i]->id},
                    {"enabled", dc.enabled},
                    {"lethality", dc.lethality},
                    {"params", params}});
  }
  return {{"detectors", list}};
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

}  // namespace

std::map<std::string, ControlServer::Handler> control_handlers(const ControlContext& ctx) {
  return {
      {"status", [ctx](const nlohmann::json&) { return status(ctx); }},
      {"stats", [ctx](const nlohmann::json&) { return stats(ctx); }},
      {"detectors", [ctx](const nlohmann::json&) { return detectors(ctx); }},
      {"capture", [ctx](const nlohmann::json& r) { return capture(ctx, r); }},
      {"shutdown",
       [ctx](const nlohmann::json&) {
         ctx.pipeline->stop();
         return json{{"stopping", true}};
       }},
  };
}

}  // namespace harrier
