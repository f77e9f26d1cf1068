// harrier: the appliance. `harrier read FILE...` analyses captures offline
// through the same DPDK dataplane as `harrier run` on live ports.
#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "control/config.h"
#include "control/explain_command.h"
#include "control/read_command.h"

using namespace harrier;

int main(int argc, char** argv) {
  CLI::App app{"harrier: kernel-bypass capture and intrusion detection"};
  app.set_version_flag("--version", std::string("harrier ") + HARRIER_VERSION);
  app.require_subcommand(1);

  std::string config_path, inventory_path, home_net, eve, fast, log_level = "warning";
  int workers = 0;
  bool quiet = false;
  auto add_common = [&](CLI::App* sub) {
    sub->add_option("--config", config_path, "YAML configuration file (default: built-in)");
    sub->add_option("--home-net", home_net, "home networks, CIDR[,CIDR...] (overrides config)");
    sub->add_option("--inventory", inventory_path, "asset inventory YAML (overrides config)");
    sub->add_option("--workers", workers, "worker shards (1..64)")->check(CLI::Range(1, 64));
    sub->add_option("--eve", eve, "EVE JSON output: PATH or - for stdout");
    sub->add_option("--fast", fast, "Snort fast-format output: PATH or - for stdout");
    sub->add_option("--log-level", log_level, "trace, debug, info, warning, error, off")
        ->check(CLI::IsMember({"trace", "debug", "info", "warning", "error", "off"}));
    sub->add_flag("--quiet", quiet, "no summary or counters on stdout/stderr");
  };
  std::vector<std::string> files;
  CLI::App* read = app.add_subcommand("read", "analyse pcap/pcapng files through the dataplane");
  read->add_option("FILE", files, "capture files, read in order")->required();
  add_common(read);
  std::string write_path, capture_filter;
  uint32_t snaplen = 262144;
  read->add_option("--write", write_path,
                   "record the packets (those --filter keeps) to this pcapng file");
  read->add_option("--filter", capture_filter,
                   "tcpdump-syntax filter for --write, e.g. 'tcp port 111 or icmp'");
  read->add_option("--snaplen", snaplen, "bytes of each packet recorded (64..262144)")
      ->check(CLI::Range(64, 262144));
  bool explain_alerts = false;
  read->add_flag("--explain", explain_alerts,
                 "write each alert's full explanation (detect write-up) in the summary");
  CLI::App* run = app.add_subcommand("run", "run on the live ports of the configuration");
  add_common(run);
  ExplainOptions explain;
  CLI::App* explain_cmd =
      app.add_subcommand("explain", "explain the incidents of EVE files, as an analyst's detect");
  explain_cmd->add_option("FILE", explain.files, "EVE JSON files written by harrier (- = stdin)")
      ->required();
  explain_cmd->add_flag("--all", explain.all,
                        "every alert, not only the last (fullest) of each incident");
  explain_cmd->add_option("--detector", explain.detector, "only this detector's incidents");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  if (explain_cmd->parsed()) return run_explain(explain);

  // harrier's own diagnostics (not alerts) go to stderr through spdlog.
  auto log = spdlog::stderr_color_mt("harrier");
  log->set_pattern("harrier: %^%l%$: %v");
  spdlog::set_default_logger(log);
  spdlog::set_level(spdlog::level::from_str(log_level == "warning" ? "warn" : log_level));

  Config cfg;
  try {
    cfg = load_config(config_path);
    if (!inventory_path.empty()) load_inventory_file(cfg, inventory_path);
    if (!home_net.empty()) set_home_networks(cfg, home_net, "--home-net");
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "harrier: %s\n", e.what());
    return 2;
  }
  if (workers) cfg.workers = uint32_t(workers);
  if (!eve.empty()) cfg.eve = eve;
  if (!fast.empty()) cfg.fast = fast;

  RunOptions opts;
  opts.files = files;
  opts.live = run->parsed();
  opts.quiet = quiet;
  opts.explain = explain_alerts;
  opts.write = write_path;
  opts.filter = capture_filter;
  opts.snaplen = snaplen;
  return run_engine(cfg, opts);
}
