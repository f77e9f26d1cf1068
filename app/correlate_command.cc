#include "app/correlate_command.h"

#include <csignal>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>

#include <spdlog/spdlog.h>

#include "control/correlator.h"
#include "control/metrics_server.h"
#include "control/output.h"
#include "control/peg_report.h"
#include "control/runtime_store.h"
#include "engine/alert_queue.h"
#include "engine/eal.h"

namespace harrier {

namespace {
std::atomic<bool> g_stop{false};
AlertOutput* g_output = nullptr;
void on_signal(int) {
  g_stop.store(true, std::memory_order_relaxed);
}
// logrotate moved the EVE and fast files away: reopen before the next write.
void on_hup(int) {
  if (g_output) g_output->request_reopen();
}
}  // namespace

int run_correlate(const Config& cfg, const CorrelateOptions& opts) {
  const CorrelationConfig& cc = cfg.correlation;
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  signal(SIGPIPE, SIG_IGN);

  // The detectors' tables live in DPDK memory, as on a sensor: EAL without
  // hugepages, devices or shared state (several correlators may share a box).
  std::string err;
  const std::vector<std::string> eal{"--no-huge",
                                     "--no-shconf",
                                     "--no-pci",
                                     "-l",
                                     "0",
                                     "-m",
                                     "2048",
                                     "--file-prefix",
                                     "harrier-correlate-" + std::to_string(getpid()),
                                     "--no-telemetry",
                                     "--log-level",
                                     "lib.eal:warning"};
  if (!eal_start(eal, &err)) {
    std::fprintf(stderr, "harrier: %s\n", err.c_str());
    return 1;
  }
  EalSession eal_session;

  RuntimeStore store(cfg, false);
  std::unique_ptr<RedisOutput> redis;
  if (cfg.redis.enabled) {
    redis = std::make_unique<RedisOutput>(cfg.redis, opts.drain);
    redis->start();
  }
  auto queue = AlertQueue::create(64, 0, &err);  // unused: the correlator writes itself
  if (!queue) {
    std::fprintf(stderr, "harrier: %s\n", err.c_str());
    return 1;
  }
  std::unique_ptr<AlertOutput> output;
  std::unique_ptr<Correlator> correlator;
  try {
    OutputConfig oc{cfg.eve, cfg.fast, cfg.summary && !opts.quiet};
    oc.redis = redis.get();
    output = std::make_unique<AlertOutput>(oc, queue.get());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "harrier: %s\n", e.what());
    return 1;
  }
  CorrelatorOptions co;
  co.drain = opts.drain;
  correlator = std::make_unique<Correlator>(cfg, *store.current(), *output, co);
  // The output asks the correlator which sensors saw each alert's parts.
  output->set_annotator(correlator.get());
  g_output = output.get();
  std::signal(SIGHUP, on_hup);

  // Prometheus (control.metrics): the correlator's own counters, which any
  // thread may read while it runs.
  std::unique_ptr<MetricsServer> metrics;
  if (!cfg.metrics.empty()) {
    const Correlator* c = correlator.get();
    metrics = MetricsServer::start(
        cfg.metrics,
        [c] { return pegs_prometheus({c->pegs()}, "harrier_correlator", "component"); }, &err);
    if (!metrics) {
      std::fprintf(stderr, "harrier: %s\n", err.c_str());
      return 1;
    }
  }

  const auto t0 = std::chrono::steady_clock::now();
  const bool ok = correlator->run(g_stop, &err);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  metrics.reset();
  std::signal(SIGHUP, SIG_IGN);
  g_output = nullptr;
  output->finish();
  bool lost = false;
  if (redis) {
    const uint64_t left = redis->finish(cfg.redis.drain_timeout);
    if (left) {
      spdlog::error("redis {}: {} records not delivered ({})", cfg.redis.where(), left,
                    redis->last_error());
      lost = true;
    }
  }
  if (!ok) {
    std::fprintf(stderr, "harrier: correlate: %s\n", err.c_str());
    return 1;
  }
  if (!opts.quiet) {
    const PegValues p = correlator->pegs();
    std::fprintf(stderr, "harrier: correlate: %s events from %s entries in %.2f s (%s as '%s')\n",
                 std::to_string(p.values[1]).c_str(), std::to_string(p.values[0]).c_str(), secs,
                 cc.redis.where().c_str(), cc.group.c_str());
    for (const std::string& line : pegs_lines({p}))
      std::fprintf(stderr, "harrier: counters: %s\n", line.c_str());
    for (const std::string& line : pegs_lines(correlator->detector_pegs()))
      std::fprintf(stderr, "harrier: counters: %s\n", line.c_str());
  }
  return lost && opts.drain ? 1 : 0;
}

}  // namespace harrier
