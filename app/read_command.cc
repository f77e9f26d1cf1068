#include "app/read_command.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <map>
#include <memory>

#include <oneapi/tbb/info.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_ethdev.h>
#include <rte_pdump.h>
#include <spdlog/spdlog.h>

#include "app/progress.h"
#include "capture/capture_set.h"
#include "capture/incident_recorder.h"
#include "capture/packet_filter.h"
#include "capture/packet_printer.h"
#include "capture/pcapng_writer.h"
#include "capture/print_writer.h"
#include "control/control_commands.h"
#include "control/metrics_server.h"
#include "control/runtime_store.h"
#include "control/telemetry.h"
#include "control/output.h"
#include "control/peg_report.h"
#include "control/event_publisher.h"
#include "control/redis_output.h"
#include "dataplane/bounded_table.h"
#include "engine/alert_queue.h"
#include "engine/eal.h"
#include "engine/pcap_file.h"
#include "engine/pipeline.h"
#include "engine/port.h"
#include "detectors/registry.h"

namespace harrier {

namespace {
// A stop asked for by SIGINT/SIGTERM: seen by the file scan before the
// pipeline exists, and handed to the pipeline once it does.
volatile std::sig_atomic_t g_stop_requested = 0;
std::atomic<Pipeline*> g_pipeline{nullptr};
void on_signal(int) {
  g_stop_requested = 1;
  if (Pipeline* p = g_pipeline.load()) p->stop();
}
AlertOutput* g_output = nullptr;
// SIGHUP (logrotate): the output thread reopens the EVE and fast files.
void on_hangup(int) {
  if (g_output) g_output->request_reopen();
}

void print_stats(const EngineTotals& t, const PacketSource& src, const AlertOutput& out, FILE* f) {
  auto n = [](uint64_t v) { return (unsigned long long)v; };
  std::fprintf(f,
               "harrier: %llu packets in %llu batches, %llu flows (%llu expired, %llu evicted), "
               "%llu non-IP, %llu undecodable, %llu host events, %llu connection outcomes, "
               "%llu alerts\n",
               n(t.emit.packets), n(t.emit.batches), n(t.table.inserts), n(t.table.expired),
               n(t.table.evicted), n(t.flow.non_ip), n(t.flow.undecodable()), n(t.flow.events),
               n(t.flow.outcomes), n(out.written()));
  const FusionCounters& fu = t.emit.fusion;
  if (fu.incidents || fu.unfused)
    std::fprintf(f,
                 "harrier: %llu incidents: %llu alerts folded in as evidence, %llu renamed by a "
                 "more specific detector, %llu updates for folded findings%s\n",
                 n(fu.incidents + fu.unfused), n(fu.folded), n(fu.takeovers), n(fu.fold_updates),
                 fu.evicted || fu.unfused ? (", " + std::to_string(fu.evicted) +
                                             " closed early for room (raise incidents.capacity)")
                                                .c_str()
                                          : "");
  if (t.alerts_dropped() || t.flow.events_dropped || t.flow.no_flow ||
      src.counters().stalled_inputs)
    std::fprintf(f,
                 "harrier: WARNING: %llu alerts dropped, %llu host events dropped, %llu packets "
                 "without flow, %llu inputs stalled\n",
                 n(t.alerts_dropped()), n(t.flow.events_dropped), n(t.flow.no_flow),
                 n(src.counters().stalled_inputs));
  if (t.emit.timelines_refused)
    std::fprintf(f,
                 "harrier: WARNING: packet time stepped back %llu times after its clock offset "
                 "reached its bound; connection attempts after those waited on the earlier "
                 "clock (their outcomes came late, at the latest at the end of input)\n",
                 n(t.emit.timelines_refused));
  if (t.flow.events_capped)
    std::fprintf(f,
                 "harrier: %llu detector events capped: packets that said more than %u things to "
                 "one detector (e.g. pipelined SMTP commands); the rest of each was not counted\n",
                 n(t.flow.events_capped), kMaxDetectorEventsPerPacket);
  for (size_t i = 0; i < src.inputs().size(); ++i)
    if (uint64_t lost = src.input_losses(i))
      std::fprintf(f, "harrier: WARNING: %s: %llu packets lost in the PMD (mbufs or read errors)\n",
                   src.inputs()[i].name.c_str(), (unsigned long long)lost);
}
}  // namespace

// A detector table that had to evict forgot keys it was still counting:
// say which, by how much, and what to raise. Call with the pipeline stopped.
static void report_detector_tables(bool memory) {
  std::map<std::pair<std::string, std::string>, TableStats> by_table;
  for (const TableStats& t : registered_table_stats()) {
    TableStats& o = by_table[{t.owner, t.param}];
    o.size += t.size, o.capacity += t.capacity;
    o.evictions += t.evictions, o.insert_failures += t.insert_failures;
    o.kept_evictions += t.kept_evictions;
    o.bytes += t.bytes;
  }
  if (memory) {
    std::string per;
    uint64_t total = 0;
    for (const auto& [key, t] : by_table) {
      per += (per.empty() ? "" : ", ") + key.first + " " + format_count(t.bytes >> 20) + " MB";
      total += t.bytes;
    }
    std::fprintf(stderr, "harrier: detector tables %s MB: %s\n", format_count(total >> 20).c_str(),
                 per.c_str());
  }
  for (const auto& [key, t] : by_table) {
    if (t.evictions == 0 && t.insert_failures == 0) continue;
    const std::string reported =
        t.kept_evictions ? " (" + format_count(t.kept_evictions) +
                               " of them reported incidents, closed early with a last update)"
                         : "";
    spdlog::warn(
        "{}: its tables were full: {} keys evicted{}, {} not stored (capacity {} over all "
        "shards); raise detectors.{}.{}",
        key.first, format_count(t.evictions), reported, format_count(t.insert_failures),
        format_count(t.capacity), key.first, key.second);
  }
}

// A flow table that evicted live flows lost their state (a handshake's
// answer, a parser's stream): say so and what to raise, as for the detectors.
static void report_flow_tables(const EngineTotals& t, const Config& cfg) {
  const uint64_t evicted = t.table.evicted, capacity = t.flow_capacity,
                 lost = t.table.awaiting_evicted;
  if (evicted)
    spdlog::warn(
        "flow table full: {} flows evicted before they ended (capacity {} over all workers); "
        "raise dataplane.flow_table.capacity (now {})",
        format_count(evicted), format_count(capacity), format_count(cfg.flow_capacity));
  // The table must hold every attempt made within one answer grace.
  if (lost)
    spdlog::warn(
        "{} connection attempts left the flow table before their answer grace ran out (it "
        "turned over faster than dataplane.flow_table.answer_grace, {}): whether they were "
        "answered is unknown, so the scan detectors did not count them; raise "
        "dataplane.flow_table.capacity (now {}) or shorten the grace",
        format_count(lost), format_seconds(cfg.timeouts.answer_grace_ms / 1e3),
        format_count(cfg.flow_capacity));
}

// What recording wrote and what it could not, at the end of a run.
static void report_capture(const PcapngWriter& w, const PacketFilter& filter, bool verbose) {
  const PcapngCounters c = w.counters();
  if (c.dropped_full)
    spdlog::warn("{}: {} packets not recorded because the writer fell behind", w.path(),
                 format_count(c.dropped_full));
  if (c.write_errors)
    spdlog::warn(
        "{}: {} packets not recorded because the disk refused them (full?); the "
        "files hold every packet before that, whole",
        w.path(), format_count(c.write_errors));
  if (verbose && w.rotating())
    std::fprintf(stderr,
                 "harrier: rotating set %s: %s files written, %s deleted (retention budget or full "
                 "disk); "
                 "%s files (%s bytes) on disk\n",
                 w.path().c_str(), format_count(c.files_created).c_str(),
                 format_count(c.files_deleted).c_str(), format_count(c.files_kept).c_str(),
                 format_count(c.bytes_kept).c_str());
  if (verbose)
    std::fprintf(stderr, "harrier: recorded %s packets (%s bytes) to %s%s\n",
                 format_count(c.written).c_str(), format_count(c.bytes).c_str(), w.path().c_str(),
                 filter.keeps_everything() ? ""
                                           : (" matching '" + filter.expression() + "'" +
                                              (filter.jitted() ? "" : " (interpreted eBPF)"))
                                                 .c_str());
}

// The end-of-run summary: what was analysed, how fast, and the alerts.
static void report_analysis(const EngineTotals& totals, const PacketSource& source,
                            const AlertOutput& output, uint32_t workers, double secs) {
  FILE* f = stderr;
  print_stats(totals, source, output, f);
  const double pkts = double(totals.emit.packets);
  std::fprintf(
      f, "harrier: analysed in %.3f s: %.0f packets/s, %.0f packets/s per worker (%u workers)\n",
      secs, pkts / secs, pkts / secs / workers, workers);
  if (output.summary_stream() && output.written() == 0)
    std::fprintf(output.summary_stream(), "No alerts.\n");
  else if (output.summary_stream()) {
    std::string per;
    for (const auto& [id, n] : output.per_detector())
      per += (per.empty() ? "" : ", ") + id + " " + std::to_string(n);
    std::fprintf(output.summary_stream(), "%llu alerts: %s%s\n",
                 (unsigned long long)output.written(), per.c_str(),
                 output.folded() ? ("; " + std::to_string(output.folded()) +
                                    " more folded into their incidents as evidence")
                                       .c_str()
                                 : "");
  }
}

// Incident captures made, and those left out by their caps or a busy pool.
static void report_incidents(const IncidentRecorder& rec, const IncidentCaptureConfig& caps,
                             bool verbose) {
  const IncidentCounters c = rec.counters();
  if (verbose)
    std::fprintf(stderr, "harrier: %s incident captures (%s packets, %s bytes) in %s\n",
                 format_count(c.files).c_str(), format_count(c.packets).c_str(),
                 format_count(c.bytes).c_str(), rec.dir().c_str());
  if (c.skipped_files_cap)
    spdlog::warn("{} incidents without a capture: capture.incidents.max_files ({}) reached",
                 format_count(c.skipped_files_cap), caps.max_files);
  if (c.skipped_busy)
    spdlog::warn("{} incidents without a capture: 64 were being recorded at once",
                 format_count(c.skipped_busy));
  if (c.packets_capped)
    spdlog::warn(
        "{} incident packets left out by capture.incidents.max_packets ({}) or "
        "max_size ({} bytes)",
        format_count(c.packets_capped), caps.max_packets, caps.max_bytes);
  if (c.packets_dropped || c.ring_misses || c.write_errors)
    spdlog::warn(
        "incident captures: {} packets dropped (queue full), {} not kept in the "
        "look-back ring (pool busy), {} lost to write errors",
        format_count(c.packets_dropped), format_count(c.ring_misses), format_count(c.write_errors));
}

// The files to read, checked before DPDK says anything: a bad file is the
// user's mistake and is named. A file without a single readable packet is
// named and left out; the others are still read. Returns -1 to go on, or
// the exit status.
static int scan_inputs(const RunOptions& opts, std::vector<std::string>* files,
                       std::vector<PcapFileInfo>* infos) {
  const auto stop_asked = [] { return g_stop_requested != 0; };
  for (size_t n = 0; n < opts.files.size(); ++n) {
    const std::string& f = opts.files[n];
    PcapFileInfo info;
    std::string err;
    if (!scan_pcap_file(f, &info, &err, {}, stop_asked)) {
      std::fprintf(stderr, "harrier: %s\n", err.c_str());
      return 1;
    }
    if (info.interrupted) {
      std::fprintf(stderr,
                   "harrier: stopped by a signal while scanning %s (file %zu of %zu, %llu packets "
                   "in); nothing analysed, no output written\n",
                   f.c_str(), n + 1, opts.files.size(), (unsigned long long)info.packets);
      return 0;
    }
    if (f.find(',') != std::string::npos) {
      std::fprintf(stderr,
                   "harrier: %s: file names with ',' cannot be passed to DPDK's pcap PMD; rename "
                   "or link it\n",
                   f.c_str());
      return 1;
    }
    if (info.packets == 0) {
      if (info.truncated)
        std::fprintf(stderr,
                     "harrier: warning: %s: no readable packet, its first record is "
                     "damaged (%s); skipping it\n",
                     f.c_str(), info.truncation.c_str());
      else
        std::fprintf(stderr, "harrier: warning: %s holds no packets; skipping it\n", f.c_str());
      continue;
    }
    if (info.truncated)
      std::fprintf(
          stderr,
          "harrier: warning: %s is truncated (%s); reading the %llu complete packets before it\n",
          f.c_str(), info.truncation.c_str(), (unsigned long long)info.packets);
    infos->push_back(info);
    files->push_back(f);
  }
  return -1;
}

// Options that contradict each other, named before DPDK or any port starts.
static std::string option_conflict(const Config& cfg, const RunOptions& opts) {
  const CaptureConfig& cap = cfg.capture;
  const RotationPolicy& rot = cap.rotation;
  if (!cap.filter.empty() && cap.write.empty() && !opts.print)
    return "--filter selects what --write records and --print shows; give one";
  if (cap.write.empty() && (rot.rotating() || rot.keep_files || rot.keep_bytes))
    return "rotation and retention apply to --write; give --write too";
  if (opts.print && (cfg.eve == "-" || cfg.fast == "-"))
    return std::string("--print writes packets to stdout, and so would --") +
           (cfg.eve == "-" ? "eve" : "fast") + " -; send the alerts to a file";
  return "";
}

// Waits for Redis to take what is buffered (up to drain_timeout), then
// says what it got; false when records were lost, each named by count.
static bool report_redis(RedisOutput& redis, bool verbose) {
  const RedisOutputConfig& rc = redis.config();
  const uint64_t left = redis.finish(rc.drain_timeout);
  const uint64_t lost = left + redis.dropped();
  const std::string where =
      rc.where() + " (" + RedisOutputConfig::mode_name(rc.mode) + " " + rc.key + ")";
  if (verbose || lost)
    std::fprintf(stderr, "harrier: redis %s: %s EVE records delivered\n", where.c_str(),
                 format_count(redis.delivered()).c_str());
  if (verbose)
    for (const std::string& line : pegs_lines({redis.pegs()}))
      std::fprintf(stderr, "harrier: counters: %s\n", line.c_str());
  if (redis.dropped())
    spdlog::warn(
        "redis {}: {} records dropped while the buffer ({}) was full; raise "
        "outputs.redis.buffer or give Redis more room",
        where, format_count(redis.dropped()), format_count(rc.buffer));
  if (left)
    spdlog::error(
        "redis {}: {} records not delivered ({}); they are in the EVE file if "
        "outputs.eve is set",
        where, format_count(left),
        redis.last_error().empty() ? "Redis did not take them in time" : redis.last_error());
  return lost == 0;
}

// The same for the host events a sensor publishes (correlation.sensor).
static bool report_events(EventPublisher& events, bool verbose) {
  const CorrelationConfig& cc = events.config();
  const uint64_t left = events.finish(cc.drain_timeout);
  const PegValues pegs = events.pegs();
  const std::string where = cc.redis.where() + " (" + cc.key + ", " +
                            std::to_string(cc.partitions) + " partitions, sensor " + cc.sensor +
                            ")";
  if (verbose || left)
    std::fprintf(stderr, "harrier: correlation %s: %s host events published\n", where.c_str(),
                 format_count(pegs.values[0]).c_str());
  if (verbose)
    for (const std::string& line : pegs_lines({pegs}))
      std::fprintf(stderr, "harrier: counters: %s\n", line.c_str());
  if (pegs.values[2])
    spdlog::warn(
        "correlation {}: {} host events dropped while the buffer ({}) was full; raise "
        "correlation.buffer or give Redis more room",
        where, format_count(pegs.values[2]), format_count(cc.buffer));
  if (left)
    spdlog::error(
        "correlation {}: {} host events not published ({})", where, format_count(left),
        events.last_error().empty() ? "Redis did not take them in time" : events.last_error());
  return left == 0;
}

int run_engine(Config& cfg, const RunOptions& opts) {
  // 0. SIGINT/SIGTERM from the start: scanning a large file takes a while,
  //    and a stop then still ends with a word on how far it got.
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  if (const std::string why = option_conflict(cfg, opts); !why.empty()) {
    std::fprintf(stderr, "harrier: %s\n", why.c_str());
    return 2;
  }

  // 1. Inputs first (offline).
  std::vector<PcapFileInfo> infos;
  std::vector<std::string> files;
  if (const int rc = scan_inputs(opts, &files, &infos); rc >= 0) return rc;
  // One pcap port per file, and DPDK has RTE_MAX_ETHPORTS of them.
  if (files.size() > RTE_MAX_ETHPORTS) {
    std::fprintf(stderr,
                 "harrier: %zu capture files given; one read takes at most %d (DPDK's "
                 "RTE_MAX_ETHPORTS): merge them first (mergecap -w all.pcap FILE...) or read "
                 "them in groups\n",
                 files.size(), RTE_MAX_ETHPORTS);
    return 2;
  }

  // A second instance is refused before it touches DPDK or the ports.
  if (opts.live && ControlServer::in_use(cfg.control_socket)) {
    std::fprintf(stderr, "harrier: %s\n", ControlServer::in_use_error(cfg.control_socket).c_str());
    return 1;
  }

  // 2. EAL. Offline reading needs no hugepages, PCI or shared config, and
  //    several readers may run at once.
  std::vector<std::string> eal = cfg.eal_args;
  if (!opts.live) {
    eal.insert(eal.begin(),
               {"--no-huge", "--no-shconf", "--no-pci", "-l", "0", "-m", "2048", "--file-prefix",
                "harrier-read-" + std::to_string(getpid()), "--no-telemetry", "--log-level",
                "lib.eal:warning", "--log-level", "pmd.net.pcap:warning"});
  }
  std::string err;
  if (!eal_start(eal, &err)) {
    std::fprintf(stderr, "harrier: %s\n", err.c_str());
    return 1;
  }
  // Declared here, gone last: every DPDK object below is freed before EAL
  // stops, on every return.
  EalSession eal_session;

  // 3. Ports: one pcap vdev per file, or the configured ports.
  std::vector<PortInput> inputs;
  struct PortsClosed {
    const std::vector<PortInput>& ports;
    ~PortsClosed() {
      for (const auto& in : ports)
        close_port(in.port_id);
    }
  } ports_closed{inputs};
  int socket = 0;
  std::vector<int> sockets;  // live: each port's NUMA socket
  uint64_t symmetric_rss_ports = 0;
  const uint32_t mbufs =
      std::max<uint32_t>(cfg.mbufs, (2 * cfg.workers + 4) * cfg.batch_size + 2048);
  if (!opts.live) {
    for (size_t i = 0; i < files.size(); ++i) {
      PortConfig pc;
      pc.device = "net_pcap" + std::to_string(i) + ",rx_pcap=" + files[i];
      OpenPort op;
      if (!open_port(pc, mbufs, &op, &err)) {
        std::fprintf(stderr, "harrier: %s: %s\n", files[i].c_str(), err.c_str());
        return 1;
      }
      PortInput in{op.port_id, 1, infos[i].packets, files[i], infos[i].first_ts_ns};
      in.offline = true;
      inputs.push_back(in);
      socket = op.socket;
    }
  } else {
    if (cfg.ports.empty()) {
      std::fprintf(stderr, "harrier: no ports configured (dataplane.ports in --config)\n");
      return 2;
    }
    for (const auto& pc : cfg.ports) {
      OpenPort op;
      if (!open_port(pc, mbufs, &op, &err)) {
        std::fprintf(stderr, "harrier: %s\n", err.c_str());
        return 1;
      }
      inputs.push_back({op.port_id, pc.rx_queues, 0, pc.device, 0, op.ts_unit_ns});
      if (op.symmetric_rss && op.port_id < 64) symmetric_rss_ports |= 1ull << op.port_id;
      sockets.push_back(op.socket);
      socket = op.socket;
    }
  }
  // Workers allocate and run on one socket: the first port's. Ports on
  // other sockets pay for every packet crossing the interconnect.
  for (size_t i = 0; i < sockets.size(); ++i)
    if (sockets[i] != sockets[0])
      spdlog::warn(
          "port {} is on NUMA socket {}, the workers on socket {}: its packets cross "
          "the interconnect; give each socket's ports their own harrier",
          inputs[i].name, sockets[i], sockets[0]);
  PacketSource source(inputs, !opts.live);

  // 3b. Recording: the filter (libpcap's compiler, DPDK's eBPF) and the
  //     pcapng writer, after the ports so the file describes each of them.
  const CaptureConfig& cap = cfg.capture;
  std::unique_ptr<PacketFilter> capture_filter;
  std::unique_ptr<PcapngWriter> capture;
  const RotationPolicy& rot = cap.rotation;
  if (!cap.write.empty() || opts.print) {
    capture_filter = PacketFilter::compile(cap.filter, cap.snaplen, &err);
    if (!capture_filter) {
      std::fprintf(stderr, "harrier: %s\n", err.c_str());
      return 2;
    }
  }
  if (!cap.write.empty()) {
    capture = PcapngWriter::open(cap.write, rot, cap.snaplen, socket, !opts.live, &err);
    if (!capture) {
      std::fprintf(stderr, "harrier: %s\n", err.c_str());
      return 1;
    }
  }

  std::unique_ptr<IncidentRecorder> incidents;
  if (!cap.incidents.dir.empty()) {
    incidents = IncidentRecorder::create(cap.incidents, cfg.workers, socket, !opts.live, &err);
    if (!incidents) {
      std::fprintf(stderr, "harrier: %s\n", err.c_str());
      return 1;
    }
  }

  // 4. Detectors from the validated config. Live, every detector is built
  //    (and gets its state) so that any can be switched on while running.
  RuntimeStore store(cfg, opts.live);

  auto queue = AlertQueue::create(8192, socket, &err);
  if (!queue) {
    std::fprintf(stderr, "harrier: %s\n", err.c_str());
    return 1;
  }
  // Progress on a terminal (offline, not --quiet; --print's lines are
  // progress enough). It samples the pipeline, made below, once started.
  const Pipeline* progress_of = nullptr;
  std::unique_ptr<ReadProgress> progress;
  if (!opts.live && !opts.quiet && !opts.print && isatty(STDERR_FILENO)) {
    uint64_t packets = 0, bytes = 0;
    for (const PcapFileInfo& i : infos)
      packets += i.packets, bytes += i.bytes;
    progress = std::make_unique<ReadProgress>(packets, bytes, [&progress_of, &source] {
      ProgressSample s;
      const PipelineCounters c = progress_of->live_counters();
      s.packets = c.packets;
      s.alerts = c.alerts;
      for (size_t i = 0; i < source.inputs().size(); ++i)
        s.bytes += source.queue(i, 0).bytes.load(std::memory_order_relaxed);
      return s;
    });
  }
  // EVE to Redis: its own sender thread behind a bounded buffer (offline,
  // the output waits for it instead of dropping).
  std::unique_ptr<RedisOutput> redis;
  if (cfg.redis.enabled) {
    redis = std::make_unique<RedisOutput>(cfg.redis, !opts.live);
    redis->start();
  }
  // Host events to Redis Streams for correlators (correlation.sensor).
  std::unique_ptr<EventPublisher> events;
  if (cfg.correlation.publishes()) {
    events = std::make_unique<EventPublisher>(
        cfg.correlation, uint64_t(cfg.timeouts.answer_grace_ms) * 1'000'000ull, !opts.live);
    events->start();
  }
  std::unique_ptr<AlertOutput> output;
  try {
    OutputConfig oc{cfg.eve,      cfg.fast,        cfg.summary && !opts.quiet,
                    opts.explain, incidents.get(), opts.live ? 1000u : 0u};
    oc.status_line = progress.get();
    oc.redis = redis.get();
    output = std::make_unique<AlertOutput>(oc, queue.get());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "harrier: %s\n", e.what());
    return 1;
  }

  PipelineConfig pc;
  pc.workers = cfg.workers;
  pc.batch_size = cfg.batch_size;
  pc.flow_capacity = cfg.flow_capacity;
  pc.timeouts = cfg.timeouts;
  pc.fusion = cfg.fusion;
  pc.lossless = !opts.live;
  pc.socket = socket;
  pc.symmetric_rss_ports = symmetric_rss_ports;
  // On a multi-socket machine the workers' threads stay on the ports' socket
  // (TBB places its arena by NUMA node through hwloc, when it has it).
  if (opts.live && rte_socket_count() > 1) {
    const std::vector<oneapi::tbb::numa_node_id> nodes = oneapi::tbb::info::numa_nodes();
    if (std::find(nodes.begin(), nodes.end(), socket) != nodes.end())
      pc.numa_node = socket;
    else
      spdlog::warn(
          "cannot keep the workers on NUMA socket {} with the ports: TBB sees no NUMA "
          "nodes (it needs libtbbbind and hwloc); they run wherever the OS puts them",
          socket);
  }
  // DPDK refuses secondary processes once a non-EAL thread registers as an
  // lcore, so with pdump on the worker threads stay unregistered (no
  // per-lcore mempool caches; no difference measured, docs/performance.md).
  const bool want_pdump = opts.live && cfg.pdump;
  pc.register_lcores = !want_pdump;
  CaptureParts parts;
  parts.filter = capture_filter.get();
  parts.writer = capture.get();
  parts.incidents = incidents.get();
  std::unique_ptr<PacketPrinter> printer;
  std::unique_ptr<PrintWriter> print_writer;
  if (opts.print) {
    PrintOptions po;
    po.numeric = opts.print_numeric;
    po.hex = opts.print_hex;
    printer = std::make_unique<PacketPrinter>(po);
    print_writer = std::make_unique<PrintWriter>(stdout, !opts.live);
    parts.printer = printer.get();
    parts.print_to = print_writer.get();
  }
  CaptureSet capture_set(parts);
  if (parts.writer || parts.printer || parts.incidents) pc.capture = &capture_set;
  pc.events = events.get();
  auto pipeline = Pipeline::create(pc, store.current(), &source, queue.get(), &err);
  if (!pipeline) {
    std::fprintf(stderr, "harrier: %s\n", err.c_str());
    return 1;
  }

  // Live, DPDK's own capture tools (dpdk-dumpcap, dpdk-pdump) attach to the
  // ports as secondary processes. Served only now that everything is
  // allocated: a secondary attaching mid-start-up stalls the primary's
  // memory allocations.
  const bool pdump = want_pdump && rte_pdump_init() == 0;
  if (want_pdump && !pdump)
    spdlog::warn("dpdk-dumpcap cannot attach: rte_pdump_init failed: {}", rte_strerror(rte_errno));
  if (opts.live)
    spdlog::info("running: {} port(s), {} workers{}", inputs.size(), cfg.workers,
                 pdump ? "; dpdk-dumpcap can attach" : "");
  // Live: the control socket, once everything it reports on exists.
  // Declared so that they go in reverse: the control thread (whose tick
  // samples the stats) and the metrics thread before the stats they read.
  std::unique_ptr<LiveStats> live_stats;
  std::unique_ptr<MetricsServer> metrics;
  std::unique_ptr<ControlServer> control;
  if (opts.live) {
    // A peer that goes away mid-reply (harrierctl, a scraper) is an error
    // on that connection, never the end of harrier.
    signal(SIGPIPE, SIG_IGN);
    live_stats = std::make_unique<LiveStats>(LiveStatsSources{
        pipeline.get(), &source, capture.get(), capture_filter.get(), redis.get(), events.get()});
    if (!cfg.metrics.empty()) {
      metrics = MetricsServer::start(
          cfg.metrics, [s = live_stats.get()] { return s->prometheus(); }, &err);
      if (!metrics) {
        std::fprintf(stderr, "harrier: %s\n", err.c_str());
        return 1;
      }
      spdlog::info("Prometheus metrics on http://{}/metrics", cfg.metrics);
    }
    if (!telemetry_attach(live_stats.get()))
      spdlog::warn(
          "DPDK telemetry refused harrier's commands; dpdk-telemetry.py shows DPDK's only");
    ControlContext ctx{&store,
                       opts.reload_config,
                       pipeline.get(),
                       &inputs,
                       capture.get(),
                       capture_filter.get(),
                       incidents.get(),
                       pdump,
                       std::chrono::steady_clock::now(),
                       live_stats.get(),
                       output.get()};
    control = ControlServer::start(
        cfg.control_socket, cfg.control_group, control_handlers(ctx), &err,
        [s = live_stats.get()] { s->sample(); }, std::chrono::seconds(cfg.control_idle_timeout_s));
    if (!control) {
      telemetry_detach();
      std::fprintf(stderr, "harrier: %s\n", err.c_str());
      return 1;
    }
    spdlog::info("control socket {}", cfg.control_socket);
  }
  output->start();
  g_pipeline = pipeline.get();
  if (g_stop_requested) pipeline->stop();  // asked while starting up
  g_output = output.get();
  struct sigaction hup {};
  hup.sa_handler = on_hangup;
  sigaction(SIGHUP, &hup, nullptr);
  const auto t0 = std::chrono::steady_clock::now();
  progress_of = pipeline.get();
  if (progress) progress->start();
  pipeline->run();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (progress) progress->stop();
  g_pipeline = nullptr;
  signal(SIGHUP, SIG_IGN);
  g_output = nullptr;
  control.reset();  // no requests about a pipeline that has stopped
  metrics.reset();
  if (live_stats) telemetry_detach();
  if (print_writer) {
    print_writer->finish();
    if (const uint64_t d = print_writer->dropped_packets())
      spdlog::warn("--print: {} packets not printed because the output could not keep up",
                   format_count(d));
  }
  // Incident files are complete before the alerts naming them are flushed.
  if (incidents) incidents->finish();
  output->finish();
  if (capture) {
    capture->finish();
    report_capture(*capture, *capture_filter, opts.stats && !opts.quiet);
  }
  bool redis_lost = false;
  if (redis) redis_lost = !report_redis(*redis, opts.stats && !opts.quiet);
  if (events && !report_events(*events, opts.stats && !opts.quiet)) redis_lost = true;

  const EngineTotals totals = pipeline->totals();
  if (opts.stats && !opts.quiet) report_analysis(totals, source, *output, cfg.workers, secs);
  if (incidents) report_incidents(*incidents, cap.incidents, opts.stats && !opts.quiet);
  if (opts.stats && !opts.quiet) {
    uint64_t flow_bytes = 0;
    for (const auto& fs : pipeline->flow_shards())
      flow_bytes += FlowTable::memory_bytes(fs->flows().capacity());
    std::fprintf(stderr, "harrier: flow tables %s MB (%s flows over %u workers)\n",
                 format_count(flow_bytes >> 20).c_str(), format_count(cfg.flow_capacity).c_str(),
                 cfg.workers);
  }
  report_detector_tables(opts.stats && !opts.quiet);
  if (opts.stats && !opts.quiet)
    for (const std::string& line : pegs_lines(pipeline->detector_pegs()))
      std::fprintf(stderr, "harrier: counters: %s\n", line.c_str());
  report_flow_tables(totals, cfg);
  incidents.reset();
  capture.reset();  // its pool and queue are DPDK memory: free before the EAL stops
  // Everything is written and reported; what is left is memory. rte_free
  // zeroes each element it frees (DPDK keeps its heap zeroed), which for
  // the flow and detector tables was most of a short read's time (~0.4 G
  // instructions, ~1.6 s for a one-packet file). The process is ending and
  // EAL's cleanup unmaps its memory whole, so the tables are not freed one
  // by one. Sanitizer builds free everything, so leak checks stay exact.
#if defined(__SANITIZE_ADDRESS__) || defined(HARRIER_ASAN)
  pipeline.reset();
#else
  [[maybe_unused]] Pipeline* left_to_the_os = pipeline.release();
#endif
  queue.reset();
  if (pdump) rte_pdump_uninit();
  // Offline nothing found may be lost silently: records (or host events)
  // Redis never took make the run fail (live, they are counters like every other drop).
  return redis_lost && !opts.live ? 1 : 0;
}

}  // namespace harrier
