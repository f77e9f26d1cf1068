#include "control/live_stats.h"

#include <tuple>

#include <rte_ethdev.h>

#include "control/peg_report.h"
#include "detectors/registry.h"

namespace harrier {

using json = nlohmann::ordered_json;

LiveStats::LiveStats(LiveStatsSources s) : s_(s), started_(std::chrono::steady_clock::now()) {
  last_ = take();
}

LiveStats::Point LiveStats::take(bool workers) const {
  Point p;
  p.at = std::chrono::steady_clock::now();
  const auto& inputs = s_.source->inputs();
  for (size_t i = 0; i < inputs.size(); ++i) {
    p.queue_packets.emplace_back();
    p.queue_bytes.emplace_back();
    for (uint16_t q = 0; q < inputs[i].rx_queues; ++q) {
      const QueueCounters& c = s_.source->queue(i, q);
      p.queue_packets.back().push_back(c.packets.load(std::memory_order_relaxed));
      p.queue_bytes.back().push_back(c.bytes.load(std::memory_order_relaxed));
    }
  }
  p.analysed = s_.pipeline->live_counters().packets;
  if (!workers) return p;
  for (const auto& shard : s_.pipeline->flow_shards()) {
    const FlowShardSnapshot f = shard->snapshot();
    p.worker_packets.push_back(f.shard.packets);
    p.worker_bytes.push_back(f.shard.bytes);
  }
  return p;
}

void LiveStats::sample() {
  std::lock_guard lock(mu_);
  prev_ = std::move(last_);
  last_ = take();
  have_rates_ = true;
}

std::vector<PegValues> LiveStats::output_pegs() const {
  std::vector<PegValues> out;
  if (s_.redis) out.push_back(s_.redis->pegs());
  if (s_.events) out.push_back(s_.events->pegs());
  return out;
}

json LiveStats::collect() {
  std::lock_guard lock(mu_);
  return collect_locked(s_.pipeline->detector_pegs());
}

json LiveStats::collect_locked(const std::vector<PegValues>& detectors) {
  const Point now = take(false);
  const double dt = have_rates_ ? std::chrono::duration<double>(last_.at - prev_.at).count() : 0.0;
  // Per second over the last whole sampling interval (0 until there is one).
  auto rate = [&](uint64_t later, uint64_t earlier) {
    return dt > 0 && later >= earlier ? double(later - earlier) / dt : 0.0;
  };
  const EngineTotals t = s_.pipeline->totals();
  const PipelineCounters& pc = t.emit;

  json ports = json::array();
  uint64_t received = 0, received_bytes = 0, imissed = 0, nombuf = 0, ierrors = 0;
  double pps = 0, bps = 0;
  const auto& inputs = s_.source->inputs();
  for (size_t i = 0; i < inputs.size(); ++i) {
    const PortInput& in = inputs[i];
    rte_eth_stats st{};
    const bool nic = rte_eth_stats_get(in.port_id, &st) == 0;
    json queues = json::array();
    uint64_t packets = 0, bytes = 0;
    double port_pps = 0, port_bps = 0;
    for (uint16_t q = 0; q < in.rx_queues; ++q) {
      const uint64_t qp = now.queue_packets[i][q], qb = now.queue_bytes[i][q];
      const double qpps =
          have_rates_ ? rate(last_.queue_packets[i][q], prev_.queue_packets[i][q]) : 0.0;
      const double qbps =
          have_rates_ ? 8 * rate(last_.queue_bytes[i][q], prev_.queue_bytes[i][q]) : 0.0;
      json jq = {{"queue", q}, {"packets", qp}, {"bytes", qb}, {"pps", qpps}, {"bps", qbps}};
      // What the PMD itself counted on the queue, where it keeps per-queue counts.
      if (nic && q < RTE_ETHDEV_QUEUE_STAT_CNTRS) {
        jq["nic_packets"] = st.q_ipackets[q];
        jq["nic_errors"] = st.q_errors[q];
      }
      queues.push_back(std::move(jq));
      packets += qp, bytes += qb, port_pps += qpps, port_bps += qbps;
    }
    json jp = {{"port_id", in.port_id}, {"device", in.name}, {"packets", packets},
               {"bytes", bytes},        {"pps", port_pps},   {"bps", port_bps}};
    if (nic) {
      jp["nic"] = {{"ipackets", st.ipackets},
                   {"ibytes", st.ibytes},
                   {"imissed", st.imissed},
                   {"rx_nombuf", st.rx_nombuf},
                   {"ierrors", st.ierrors}};
      imissed += st.imissed, nombuf += st.rx_nombuf, ierrors += st.ierrors;
    }
    jp["queues"] = std::move(queues);
    ports.push_back(std::move(jp));
    received += packets, received_bytes += bytes, pps += port_pps, bps += port_bps;
  }

  // Per worker: its flow shard's and host shard's counts as of their last
  // batch (published under a sequence lock: never torn, never counted twice).
  json workers = json::array();
  for (size_t i = 0; i < s_.pipeline->flow_shards().size(); ++i) {
    const FlowShardSnapshot f = s_.pipeline->flow_shards()[i]->snapshot();
    const HostShardCounters hs = s_.pipeline->host_shards()[i]->snapshot();
    const double wpps =
        have_rates_ && i < last_.worker_packets.size() && i < prev_.worker_packets.size()
            ? rate(last_.worker_packets[i], prev_.worker_packets[i])
            : 0.0;
    const double wbps =
        have_rates_ && i < last_.worker_bytes.size() && i < prev_.worker_bytes.size()
            ? 8 * rate(last_.worker_bytes[i], prev_.worker_bytes[i])
            : 0.0;
    workers.push_back(
        {{"worker", i},
         {"packets", f.shard.packets},
         {"bytes", f.shard.bytes},
         {"pps", wpps},
         {"bps", wbps},
         {"non_ip", f.shard.non_ip},
         {"undecodable", f.shard.undecodable()},
         {"flows",
          {{"in_table", f.flows},
           {"capacity", f.flow_capacity},
           {"fill", f.flow_capacity ? double(f.flows) / double(f.flow_capacity) : 0.0},
           {"created", f.table.inserts},
           {"expired", f.table.expired},
           {"evicted", f.table.evicted},
           {"not_stored", f.table.insert_failures}}},
         {"connection_outcomes",
          {{"awaiting_answer_total", f.table.awaiting},
           {"reported", f.shard.outcomes},
           {"deferred_batches", f.shard.outcomes_deferred},
           {"lost_to_eviction", f.table.awaiting_evicted}}},
         {"host_events",
          {{"raised", f.shard.events},
           {"dropped", f.shard.events_dropped},
           {"capped", f.shard.events_capped}}},
         {"alerts", f.shard.alerts + hs.alerts}});
  }

  json by_detector = json::object();
  const auto reg = detector_registry();
  for (size_t d = 0; d < reg.size(); ++d)
    by_detector[std::string(reg[d]->id)] = s_.pipeline->alerts_of(d);

  json drops = {{"nic_imissed", imissed},
                {"nic_rx_nombuf", nombuf},
                {"nic_ierrors", ierrors},
                {"alerts", t.alerts_dropped()}};
  json capture = nullptr;
  if (s_.capture || s_.capture_filter) {
    capture = {{"filter", s_.capture_filter ? s_.capture_filter->expression() : ""},
               {"kept", pc.capture_kept},
               {"filtered_out", pc.packets - std::min(pc.packets, pc.capture_kept)}};
    if (s_.capture) {
      const PcapngCounters k = s_.capture->counters();
      drops["capture_behind"] = k.dropped_full;
      drops["capture_write_errors"] = k.write_errors;
    }
  }
  const double up = std::chrono::duration<double>(now.at - started_).count();
  return {
      {"uptime_s", up},
      {"interval_s", dt},
      // received = analysed + in_flight; what never reached harrier is in
      // drops.nic_* (a slow pipeline holds rx back and the NIC queue overflows).
      {"received", {{"packets", received}, {"bytes", received_bytes}, {"pps", pps}, {"bps", bps}}},
      {"analysed",
       {{"packets", pc.packets},
        {"batches", pc.batches},
        {"pps", rate(last_.analysed, prev_.analysed)},
        {"in_flight", received - std::min(received, pc.packets)}}},
      {"drops", drops},
      // Alerts past a batch's slots: kept in its spill list (bounded live).
      {"back_pressure", {{"rx_waits", pc.rx_waits}, {"alerts_spilled", t.alerts_spilled()}}},
      {"decode", {{"undecodable", t.flow.undecodable()}, {"non_ip", t.flow.non_ip}}},
      {"capture", capture},
      {"alerts",
       {{"emitted", pc.alerts},
        {"folded", pc.alerts_folded},
        {"dropped", t.alerts_dropped()},
        {"by_detector", by_detector},
        // One activity, one incident: how the fusion stage stands.
        {"incidents",
         {{"opened", pc.fusion.incidents},
          {"open", pc.incidents_open},
          {"held", pc.incidents_held},
          {"takeovers", pc.fusion.takeovers},
          {"fold_updates", pc.fusion.fold_updates},
          {"closed_for_room", pc.fusion.evicted},
          {"unfused", pc.fusion.unfused}}}}},
      {"ports", ports},
      {"workers", workers},
      // Each detector's own counters (its counter table: tables, lists, parsers).
      {"detectors", pegs_json(detectors)},
      {"outputs", pegs_json(output_pegs())}};
}

namespace {

std::string label_value(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

class Exposition {
 public:
  void family(const char* name, const char* type, const char* help) {
    text_ += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  }
  void value(const char* name, const std::string& labels, double v) {
    char num[64];
    std::snprintf(num, sizeof num, "%.17g", v);
    text_ += name;
    if (!labels.empty()) text_ += "{" + labels + "}";
    text_ += std::string(" ") + num + "\n";
  }
  std::string take() { return std::move(text_); }

 private:
  std::string text_;
};

}  // namespace

std::string LiveStats::prometheus() {
  // Read once: the JSON and the exposition below show the same values.
  const std::vector<PegValues> detectors = s_.pipeline->detector_pegs();
  json j;
  {
    std::lock_guard lock(mu_);
    j = collect_locked(detectors);
  }
  Exposition e;
  e.family("harrier_uptime_seconds", "gauge", "Seconds since harrier run started.");
  e.value("harrier_uptime_seconds", "", j["uptime_s"].get<double>());

  auto port_label = [](const json& p) {
    return "port=\"" + label_value(p["device"].get<std::string>()) + "\"";
  };
  for (const auto& [name, field, help] : {std::tuple{"harrier_received_packets_total", "packets",
                                                     "Packets received, per port and queue."},
                                          std::tuple{"harrier_received_bytes_total", "bytes",
                                                     "Bytes received, per port and queue."}}) {
    e.family(name, "counter", help);
    for (const json& p : j["ports"])
      for (const json& q : p["queues"])
        e.value(name, port_label(p) + ",queue=\"" + std::to_string(q["queue"].get<int>()) + "\"",
                q[field].get<double>());
  }
  e.family("harrier_nic_dropped_packets_total", "counter",
           "Packets the port dropped before harrier saw them, by cause.");
  for (const json& p : j["ports"])
    if (p.contains("nic"))
      for (const char* cause : {"imissed", "rx_nombuf", "ierrors"})
        e.value("harrier_nic_dropped_packets_total", port_label(p) + ",cause=\"" + cause + "\"",
                p["nic"][cause].get<double>());

  e.family("harrier_analysed_packets_total", "counter", "Packets through every stage.");
  e.value("harrier_analysed_packets_total", "", j["analysed"]["packets"].get<double>());
  e.family("harrier_in_flight_packets", "gauge", "Packets received and not yet analysed.");
  e.value("harrier_in_flight_packets", "", j["analysed"]["in_flight"].get<double>());
  e.family("harrier_rx_waits_total", "counter",
           "Times the receive stage waited for the pipeline (back-pressure).");
  e.value("harrier_rx_waits_total", "", j["back_pressure"]["rx_waits"].get<double>());
  e.family("harrier_undecodable_packets_total", "counter", "Packets that did not decode.");
  e.value("harrier_undecodable_packets_total", "", j["decode"]["undecodable"].get<double>());

  // Per worker: (metric, type, help, where in the worker's stats).
  for (const auto& [name, type, help, group, field] :
       {std::tuple{"harrier_worker_packets_total", "counter", "Packets analysed, per worker.", "",
                   "packets"},
        std::tuple{"harrier_flows", "gauge", "Flows in the worker's flow table.", "flows",
                   "in_table"},
        std::tuple{"harrier_flow_capacity", "gauge", "Flows the worker's flow table holds at most.",
                   "flows", "capacity"},
        std::tuple{"harrier_flow_evictions_total", "counter",
                   "Live flows evicted from a full flow table, per worker.", "flows", "evicted"}}) {
    e.family(name, type, help);
    for (const json& w : j["workers"])
      e.value(name, "worker=\"" + w["worker"].dump() + "\"",
              (*group ? w[group][field] : w[field]).get<double>());
  }

  e.family("harrier_alerts_total", "counter", "Alerts emitted, per detector.");
  for (const auto& [id, n] : j["alerts"]["by_detector"].items())
    e.value("harrier_alerts_total", "detector=\"" + label_value(id) + "\"", n.get<double>());
  e.family("harrier_alerts_folded_total", "counter",
           "Detectors' alerts folded into another detector's incident as evidence.");
  e.value("harrier_alerts_folded_total", "", j["alerts"]["folded"].get<double>());
  const json& inc = j["alerts"]["incidents"];
  e.family("harrier_incidents_total", "counter", "Incidents opened (one activity of one subject).");
  e.value("harrier_incidents_total", "", inc["opened"].get<double>());
  e.family("harrier_incidents_open", "gauge", "Incidents open now.");
  e.value("harrier_incidents_open", "", inc["open"].get<double>());
  e.family("harrier_incidents_held", "gauge",
           "Incidents whose first alert waits for its lookahead now.");
  e.value("harrier_incidents_held", "", inc["held"].get<double>());
  e.family("harrier_incidents_closed_for_room_total", "counter",
           "Incidents closed early because the fusion table was full.");
  e.value("harrier_incidents_closed_for_room_total", "", inc["closed_for_room"].get<double>());
  e.family("harrier_alerts_dropped_total", "counter",
           "Alerts lost to a full per-batch budget or alert queue.");
  e.value("harrier_alerts_dropped_total", "", j["alerts"]["dropped"].get<double>());
  if (j["drops"].contains("capture_behind")) {
    e.family("harrier_capture_dropped_packets_total", "counter",
             "Packets the recording lost, by cause.");
    e.value("harrier_capture_dropped_packets_total", "cause=\"behind\"",
            j["drops"]["capture_behind"].get<double>());
    e.value("harrier_capture_dropped_packets_total", "cause=\"write_error\"",
            j["drops"]["capture_write_errors"].get<double>());
  }
  std::string text = e.take();
  text += pegs_prometheus(detectors, "harrier_detector", "detector");
  text += pegs_prometheus(output_pegs(), "harrier_output", "output");
  return text;
}

}  // namespace harrier
