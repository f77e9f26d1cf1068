// harrier: the appliance. `harrier read FILE...` analyses captures offline
// through the same DPDK dataplane as `harrier run` on live ports.
#include <sys/prctl.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "control/config.h"
#include "app/correlate_command.h"
#include "app/explain_command.h"
#include "app/report_command.h"
#include "app/read_command.h"
#include "app/replay_command.h"

using namespace harrier;

namespace {
// A crash names itself on stderr (which signal, which thread) before the
// default action ends the process with its status and core: a parent that
// only sees an empty stderr cannot tell a crash from a quiet failure.
void on_fatal_signal(int sig) {
  char thread[17] = {};
  prctl(PR_GET_NAME, thread);
  char msg[128];
  const char* name = sigabbrev_np(sig);
  const int n =
      snprintf(msg, sizeof msg, "harrier: fatal SIG%s in thread '%s'\n", name ? name : "?", thread);
  if (n > 0) [[maybe_unused]]
    const ssize_t w = write(STDERR_FILENO, msg, size_t(n));
  signal(sig, SIG_DFL);
  raise(sig);
}

void name_fatal_signals() {
#if defined(__SANITIZE_ADDRESS__) || defined(HARRIER_ASAN)
  return;  // ASan's own handler reports more (a stack and the faulting access)
#endif
  struct sigaction sa {};
  sa.sa_handler = on_fatal_signal;
  sa.sa_flags = SA_RESETHAND | SA_NODEFER;
  for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT})
    sigaction(sig, &sa, nullptr);
}
}  // namespace

int main(int argc, char** argv) {
  name_fatal_signals();
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
  bool explain_alerts = false;
  read->add_flag("--explain", explain_alerts,
                 "write each alert's full explanation (detect write-up) in the summary");
  CLI::App* run = app.add_subcommand("run", "run on the live ports of the configuration");
  add_common(run);
  // Recording and printing: the same in both modes; each overrides the
  // config's `capture:` section.
  std::string write_path, capture_filter, rotate_size, keep_size, incident_dir;
  uint32_t snaplen = 0, rotate_seconds = 0, keep_files = 0;
  bool print = false, print_hex = false, print_numeric = false;
  for (CLI::App* sub : {read, run}) {
    sub->add_option("-w,--write", write_path,
                    "record the packets (those --filter keeps) to this pcapng file, or to a "
                    "rotating set named after it");
    sub->add_option("--filter", capture_filter,
                    "tcpdump-syntax filter for --write and --print, e.g. 'tcp port 111 or icmp'");
    sub->add_option("-s,--snaplen", snaplen, "bytes of each packet recorded (64..262144)")
        ->check(CLI::Range(64, 262144));
    sub->add_option("-C,--rotate-size", rotate_size,
                    "start a new file before one passes this size (e.g. 100M, 1G)");
    sub->add_option("-G,--rotate-seconds", rotate_seconds,
                    "start a new file when packets are this many seconds past its first")
        ->check(CLI::Range(1, 86400 * 366));
    sub->add_option("-W,--keep-files", keep_files,
                    "rotating: keep at most this many files, deleting the oldest")
        ->check(CLI::Range(1, 1000000000));
    sub->add_option("--keep-size", keep_size,
                    "rotating: keep at most this many bytes of files (e.g. 50G)");
    sub->add_option("--incidents", incident_dir,
                    "write each incident's packets to a pcapng in this directory");
    sub->add_flag("--print", print, "print each packet --filter keeps, one line as tcpdump does");
    sub->add_flag("-x", print_hex, "with --print: the packet's bytes in hex too");
    sub->add_flag("-n", print_numeric, "with --print: port numbers, not service names");
  }
  CLI::App* correlate = app.add_subcommand(
      "correlate", "the host-behaviour detectors over the host events sensors publish to Redis");
  add_common(correlate);
  bool drain = false;
  correlate->add_flag("--drain", drain,
                      "stop once every sensor has ended and its events are read (offline)");
  ExplainOptions explain;
  CLI::App* explain_cmd =
      app.add_subcommand("explain", "explain the incidents of EVE files, as an analyst's detect");
  explain_cmd->add_option("FILE", explain.files, "EVE JSON files written by harrier (- = stdin)")
      ->required();
  explain_cmd->add_flag("--all", explain.all,
                        "every alert, not only the last (fullest) of each incident");
  explain_cmd->add_option("--detector", explain.detector, "only this detector's incidents");

  ReportOptions report;
  CLI::App* report_cmd = app.add_subcommand(
      "report", "one self-contained HTML page of the incidents in EVE files, with charts");
  report_cmd->add_option("FILE", report.files, "EVE JSON files written by harrier (- = stdin)")
      ->required();
  report_cmd->add_option("-o,--output", report.out, "the HTML page to write")->required();
  report_cmd->add_option("--title", report.title, "the page's title");

  ReplayOptions replay;
  CLI::App* replay_cmd = app.add_subcommand(
      "replay", "transmit a capture on a DPDK port (lab traffic), e.g. to a harrier on net_memif");
  replay_cmd->add_option("FILE", replay.file, "pcap or pcapng file (Ethernet)")->required();
  replay_cmd->add_option("--port", replay.port, "vdev string or PCI address to send on")
      ->required();
  auto* pps_opt = replay_cmd->add_option("--pps", replay.pps, "packets per second");
  auto* speed_opt = replay_cmd->add_option("--speed", replay.speed,
                                           "multiple of the recorded timing (default 1)");
  bool topspeed = false;
  auto* top_opt = replay_cmd->add_flag("--topspeed", topspeed, "as fast as the link takes it");
  pps_opt->excludes(speed_opt)->excludes(top_opt);
  speed_opt->excludes(top_opt);
  replay_cmd->add_option("--loop", replay.loops, "send the capture this many times")
      ->check(CLI::Range(1u, 1000000000u));
  replay_cmd->add_flag("--lossless", replay.lossless,
                       "wait for room when the link is full instead of dropping (functional "
                       "runs, not rate tests)");
  replay_cmd
      ->add_option("--link-timeout", replay.link_timeout_s,
                   "seconds to wait for the link (a memif peer) to come up")
      ->check(CLI::Range(0.1, 3600.0));
  replay_cmd->add_flag("--hold", replay.hold,
                       "after sending, stay connected until the receiver takes the link down "
                       "(stop harrier first: see docs/operations.md on memif)");
  replay_cmd->add_option("--eal", replay.eal_extra, "extra EAL arguments")->allow_extra_args(false);
  replay_cmd->add_flag("--json", replay.json, "report as one JSON object");
  replay_cmd->add_flag("--quiet", replay.quiet, "no report");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  if (explain_cmd->parsed()) return run_explain(explain);
  if (report_cmd->parsed()) return run_report(report);
  if (replay_cmd->parsed()) {
    replay.pace = topspeed           ? ReplayPace::kTopSpeed
                  : pps_opt->count() ? ReplayPace::kPps
                                     : ReplayPace::kRecorded;
    return run_replay(replay);
  }

  // harrier's own diagnostics (not alerts) go to stderr through spdlog.
  auto log = spdlog::stderr_color_mt("harrier");
  log->set_pattern("harrier: %^%l%$: %v");
  spdlog::set_default_logger(log);
  spdlog::set_level(spdlog::level::from_str(log_level == "warning" ? "warn" : log_level));

  // CLI values that are not the config's: checked once, applied to every
  // load (at start, and again at each `harrierctl reload`).
  uint64_t rotate_bytes = 0, keep_bytes = 0;
  for (auto [text, flag, out] : {std::tuple{&rotate_size, "--rotate-size", &rotate_bytes},
                                 std::tuple{&keep_size, "--keep-size", &keep_bytes}}) {
    if (text->empty()) continue;
    if (!parse_size(*text, out) || *out < 4096) {
      std::fprintf(stderr, "harrier: %s %s: not a size of at least 4096 bytes (e.g. 100M, 1G)\n",
                   flag, text->c_str());
      return 2;
    }
  }
  // The configuration file with the command line over it. Throws ConfigError.
  auto make_config = [=]() {
    Config c = load_config(config_path);
    if (!inventory_path.empty()) load_inventory_file(c, inventory_path);
    if (!home_net.empty()) set_home_networks(c, home_net, "--home-net");
    if (workers) c.workers = uint32_t(workers);
    if (!eve.empty()) c.eve = eve;
    if (!fast.empty()) c.fast = fast;
    CaptureConfig& cap = c.capture;
    if (!write_path.empty()) cap.write = write_path;
    if (!capture_filter.empty()) cap.filter = capture_filter;
    if (snaplen) cap.snaplen = snaplen;
    if (rotate_bytes) cap.rotation.file_bytes = rotate_bytes;
    if (keep_bytes) cap.rotation.keep_bytes = keep_bytes;
    if (rotate_seconds) cap.rotation.file_seconds = rotate_seconds;
    if (keep_files) cap.rotation.keep_files = keep_files;
    if (!incident_dir.empty()) cap.incidents.dir = incident_dir;
    return c;
  };
  Config cfg;
  try {
    cfg = make_config();
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "harrier: %s\n", e.what());
    return 2;
  }
  if ((print_hex || print_numeric) && !print) {
    std::fprintf(stderr, "harrier: -x and -n change what --print shows; give --print too\n");
    return 2;
  }

  if (correlate->parsed()) {
    if (cfg.correlation.redis.socket.empty() && cfg.correlation.redis.server.empty()) {
      std::fprintf(stderr, "harrier: correlate: no Redis (correlation.server or .socket)\n");
      return 2;
    }
    CorrelateOptions co;
    co.drain = drain;
    co.quiet = quiet;
    return run_correlate(cfg, co);
  }
  RunOptions opts;
  opts.files = files;
  opts.live = run->parsed();
  opts.quiet = quiet;
  opts.explain = explain_alerts;
  opts.print = print;
  opts.print_hex = print_hex;
  opts.print_numeric = print_numeric;
  opts.reload_config = make_config;
  return run_engine(cfg, opts);
}
