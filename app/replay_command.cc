#include "app/replay_command.h"

#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <thread>

#include <nlohmann/json.hpp>
#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "engine/eal.h"
#include "engine/pcap_file.h"
#include "engine/port.h"
#include "detectors/detector.h"

namespace harrier {

namespace {

std::atomic<bool> g_stop{false};
void on_stop_signal(int) {
  g_stop.store(true, std::memory_order_relaxed);
}

// The whole capture in memory: one flat buffer, so the send loop touches
// nothing but memcpy and the TX queue.
struct Capture {
  std::vector<uint8_t> data;
  std::vector<uint64_t> offset;
  std::vector<uint32_t> length;
  std::vector<uint64_t> ts_ns;
  uint64_t truncated = 0;  // recorded shorter than on the wire: sent as recorded
  uint32_t max_len = 0;
};

// One mbuf per frame: its data room is a uint16_t.
constexpr uint32_t kMaxFrame = 65535 - RTE_PKTMBUF_HEADROOM;

bool load_capture(const std::string& path, Capture* c, std::string* error) {
  PcapFileInfo info;
  const bool ok = scan_pcap_file(
      path, &info, error,
      [&](uint64_t ts_ns, const uint8_t* data, uint32_t caplen, uint32_t wire_len) {
        if (caplen > kMaxFrame) {
          *error = path + ": packet " + std::to_string(c->length.size() + 1) + " is " +
                   std::to_string(caplen) + " bytes; replay sends frames of up to " +
                   std::to_string(kMaxFrame);
          return false;
        }
        if (caplen < wire_len) ++c->truncated;
        c->offset.push_back(c->data.size());
        c->length.push_back(caplen);
        c->ts_ns.push_back(ts_ns);
        c->data.insert(c->data.end(), data, data + caplen);
        c->max_len = std::max(c->max_len, caplen);
        return true;
      });
  if (!ok) return false;
  if (info.truncated)  // a torn last record: replay what came before it, as tcpreplay does
    std::fprintf(stderr, "harrier: replay: warning: %s: %s; sending the %zu packets before it\n",
                 path.c_str(), info.truncation.c_str(), c->length.size());
  if (c->length.empty()) {
    *error = path + ": no packets to replay";
    return false;
  }
  return true;
}

// One RX queue (some PMDs insist on one) that is never polled, one TX queue.
bool open_tx_port(const std::string& dev, rte_mempool* pool, uint16_t* port_id,
                  std::string* error) {
  if (!find_port(dev, port_id, error)) return false;
  rte_eth_conf conf{};
  rte_eth_dev_info info{};
  if (const int rc = rte_eth_dev_info_get(*port_id, &info); rc != 0) {
    *error = "cannot query " + dev + ": " + rte_strerror(-rc);
    return false;
  }
  if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS)
    conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
  if (const int rc = rte_eth_dev_configure(*port_id, 1, 1, &conf); rc != 0) {
    *error = "cannot configure " + dev + ": " + rte_strerror(-rc);
    return false;
  }
  uint16_t nb_rxd = 256, nb_txd = 1024;
  rte_eth_dev_adjust_nb_rx_tx_desc(*port_id, &nb_rxd, &nb_txd);
  const int socket = std::max(0, rte_eth_dev_socket_id(*port_id));
  if (const int rc = rte_eth_rx_queue_setup(*port_id, 0, nb_rxd, unsigned(socket), nullptr, pool);
      rc != 0) {
    *error = "cannot set up the RX queue of " + dev + ": " + rte_strerror(-rc);
    return false;
  }
  if (const int rc = rte_eth_tx_queue_setup(*port_id, 0, nb_txd, unsigned(socket), nullptr);
      rc != 0) {
    *error = "cannot set up the TX queue of " + dev + ": " + rte_strerror(-rc);
    return false;
  }
  return true;
}

bool is_memif_client(const std::string& dev) {
  return dev.rfind("net_memif", 0) == 0 && devarg(dev, "role") == "client";
}

// Why a memif client could not reach its server, in the user's terms: DPDK
// logs only "Failed to connect socket".
std::string memif_hint(const std::string& dev) {
  const std::string path = devarg(dev, "socket");
  if (path.empty() || devarg(dev, "socket-abstract") != "no")
    return "is a server, e.g. harrier run, listening on that socket?";
  struct stat st;
  if (lstat(path.c_str(), &st) != 0)
    return "the socket " + path + " does not exist: is harrier run started with that port?";
  if (!S_ISSOCK(st.st_mode)) return path + " is not a socket";
  return "nobody accepted on " + path + " (a server that stopped leaves its socket behind)";
}

// A memif client connects when its port starts and does not try again: a
// server that is not listening yet (harrier run still starting, or started
// after the replay) fails the start, and one that was not ready refuses the
// session for good. Starting the port again every `retry` asks again; a
// port that never came up fails only at the timeout.
bool start_and_wait_for_link(uint16_t port_id, const std::string& dev, double timeout_s, bool retry,
                             std::string* error) {
  using Clock = std::chrono::steady_clock;
  const auto until = Clock::now() + std::chrono::duration<double>(timeout_s);
  // A memif socket file that is not there yet: not worth a start (and
  // DPDK's error line) until it is.
  const std::string path = is_memif_client(dev) && devarg(dev, "socket-abstract") == "no"
                               ? devarg(dev, "socket")
                               : std::string();
  auto socket_there = [&] {
    struct stat st;
    return path.empty() || (lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode));
  };
  int rc = socket_there() ? rte_eth_dev_start(port_id) : -ENOENT;
  if (rc != 0 && !retry) {
    *error = std::string("cannot start the port: ") + rte_strerror(-rc);
    return false;
  }
  auto next_retry = Clock::now() + std::chrono::milliseconds(rc != 0 ? 200 : 1000);
  while (!g_stop.load(std::memory_order_relaxed)) {
    rte_eth_link link{};
    if (rc == 0 && rte_eth_link_get_nowait(port_id, &link) == 0 &&
        link.link_status == RTE_ETH_LINK_UP)
      return true;
    const auto now = Clock::now();
    if (now >= until) break;
    if (retry && now >= next_retry && socket_there()) {
      // On the interrupt thread: a refusal being handled there runs memif's
      // own disconnect, which must not overlap ours (eal.h, on_intr_thread).
      on_intr_thread([port_id, &rc] {
        if (rc == 0) rte_eth_dev_stop(port_id);
        rc = rte_eth_dev_start(port_id);
      });
    }
    if (retry && now >= next_retry)
      next_retry = now + std::chrono::milliseconds(rc != 0 ? 200 : 1000);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.0f s", timeout_s);
  *error = g_stop.load(std::memory_order_relaxed)
               ? "interrupted while waiting for the link"
               : std::string("the link did not come up within ") + buf;
  return false;
}

// Busy-waiting for the next packet would starve the receiver on a small
// machine: sleep when it is far, yield when it is near, spin only at the end.
void wait_until(uint64_t due_tsc, uint64_t hz) {
  while (!g_stop.load(std::memory_order_relaxed)) {
    const uint64_t now = rte_rdtsc();
    if (now >= due_tsc) return;
    const double left_us = double(due_tsc - now) * 1e6 / double(hz);
    if (left_us > 2000)  // in slices, so that Ctrl-C ends a long gap
      std::this_thread::sleep_for(
          std::chrono::microseconds(int64_t(std::min(left_us - 1000, 50'000.0))));
    else if (left_us > 50)
      sched_yield();
    else
      rte_pause();
  }
}

struct Sent {
  uint64_t packets = 0, bytes = 0, refused = 0;
  uint64_t late_ns = 0;  // schedule given up: the sender fell behind by more than kMaxLag
};

// A paced sender that fell behind (descheduled on a busy machine) does not
// catch up at full speed: a backlog of 100 ms sent at once is a burst no
// receiver's ring is sized for, and not the rate asked for. Past this lag
// the schedule slides (a token bucket 1 ms deep); the report's rate says
// what was really sent.
constexpr uint64_t kMaxLagNs = 1'000'000;

// Copies packets [i, end) into mbufs and hands them to the TX queue.
void send_burst(const Capture& c, size_t i, size_t end, uint16_t port_id, rte_mempool* pool,
                bool lossless, Sent& s) {
  rte_mbuf* m[32];
  const uint16_t n = uint16_t(end - i);
  while (rte_pktmbuf_alloc_bulk(pool, m, n) != 0) {
    if (g_stop.load(std::memory_order_relaxed)) return;
    rte_pause();  // the PMD still holds mbufs of earlier bursts
  }
  for (uint16_t k = 0; k < n; ++k) {
    const uint32_t len = c.length[i + k];
    char* dst = rte_pktmbuf_append(m[k], uint16_t(len));
    std::memcpy(dst, c.data.data() + c.offset[i + k], len);
  }
  uint16_t done = 0;
  for (;;) {
    done += rte_eth_tx_burst(port_id, 0, m + done, uint16_t(n - done));
    if (done == n || !lossless || g_stop.load(std::memory_order_relaxed)) break;
    rte_pause();
  }
  for (uint16_t k = 0; k < done; ++k)
    s.bytes += c.length[i + k];
  s.packets += done;
  if (done < n) {
    s.refused += n - done;
    rte_pktmbuf_free_bulk(m + done, n - done);
  }
}

}  // namespace

int run_replay(const ReplayOptions& o) {
  if (o.pace == ReplayPace::kPps && !(o.pps > 0)) {
    std::fprintf(stderr, "harrier: replay: --pps must be above 0\n");
    return 2;
  }
  if (o.pace == ReplayPace::kRecorded && !(o.speed > 0)) {
    std::fprintf(stderr, "harrier: replay: --speed must be above 0\n");
    return 2;
  }
  Capture cap;
  std::string err;
  if (!load_capture(o.file, &cap, &err)) {
    std::fprintf(stderr, "harrier: replay: %s\n", err.c_str());
    return 1;
  }
  // A vdev needs no hugepages or PCI; a NIC gets hugepages and only its own
  // PCI address, so a replay never grabs harrier's ports.
  std::vector<std::string> eal;
  if (is_pci_address(o.port))
    eal = {"-a", o.port, "--file-prefix", "harrier-replay-" + std::to_string(getpid())};
  else
    eal = {"--no-huge",
           "--no-pci",
           "--no-shconf",
           "-m",
           "1024",
           "--file-prefix",
           "harrier-replay-" + std::to_string(getpid())};
  eal.insert(eal.end(), {"--no-telemetry", "--log-level", "lib.eal:warning"});
  eal.insert(eal.end(), o.eal_extra.begin(), o.eal_extra.end());
  if (!eal_start(eal, &err)) {
    std::fprintf(stderr, "harrier: replay: %s\n", err.c_str());
    return 1;
  }
  // Each mbuf holds a whole frame, jumbo frames too.
  const uint32_t room =
      std::max<uint32_t>(RTE_MBUF_DEFAULT_BUF_SIZE, cap.max_len + RTE_PKTMBUF_HEADROOM);
  rte_mempool* pool = rte_pktmbuf_pool_create("replay_mbufs", 8191, 256, 0,
                                              uint16_t(std::min<uint32_t>(room, 65535)), 0);
  if (!pool) {
    std::fprintf(stderr, "harrier: replay: cannot create the mbuf pool: %s\n",
                 rte_strerror(rte_errno));
    eal_stop();
    return 1;
  }
  uint16_t port_id = 0;
  if (!open_tx_port(o.port, pool, &port_id, &err)) {
    std::fprintf(stderr, "harrier: replay: %s\n", err.c_str());
    eal_stop();
    return 1;
  }
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  if (!start_and_wait_for_link(port_id, o.port, o.link_timeout_s, !is_pci_address(o.port), &err)) {
    std::fprintf(stderr, "harrier: replay: %s: %s%s%s\n", o.port.c_str(), err.c_str(),
                 is_memif_client(o.port) ? "; " : "",
                 is_memif_client(o.port) ? memif_hint(o.port).c_str() : "");
    close_port(port_id);
    eal_stop();
    return 1;
  }

  const uint64_t hz = rte_get_tsc_hz();
  const size_t n = cap.length.size();
  Sent s;
  const uint64_t t_start = rte_rdtsc();
  uint64_t global = 0;  // packets scheduled so far, over all loops (--pps)
  uint64_t slip = 0;    // TSC cycles the schedule slid (see kMaxLagNs)
  const uint64_t max_lag = uint64_t(double(kMaxLagNs) * double(hz) / 1e9);
  for (uint32_t loop = 0; loop < o.loops && !g_stop.load(std::memory_order_relaxed); ++loop) {
    const uint64_t loop_start = rte_rdtsc();
    // At recorded pace each loop has a schedule of its own, from its start.
    if (o.pace == ReplayPace::kRecorded) slip = 0;
    auto due = [&](size_t k) -> uint64_t {
      switch (o.pace) {
        case ReplayPace::kTopSpeed:
          return 0;
        case ReplayPace::kPps:
          return t_start + slip + uint64_t(double(global + k) * double(hz) / o.pps);
        case ReplayPace::kRecorded: {
          // Time that runs backwards in the file sends at once.
          const uint64_t d = cap.ts_ns[k] > cap.ts_ns[0] ? cap.ts_ns[k] - cap.ts_ns[0] : 0;
          return loop_start + slip + uint64_t(double(d) * 1e-9 * double(hz) / o.speed);
        }
      }
      return 0;
    };
    size_t i = 0;
    while (i < n && !g_stop.load(std::memory_order_relaxed)) {
      wait_until(due(i), hz);
      const uint64_t now = rte_rdtsc();
      if (o.pace != ReplayPace::kTopSpeed && now > due(i) + max_lag) {
        const uint64_t behind = now - due(i);
        slip += behind;
        s.late_ns += uint64_t(double(behind) * 1e9 / double(hz));
      }
      size_t end = i + 1;
      while (end < n && end - i < 32 && due(end) <= now)
        ++end;
      send_burst(cap, i, end, port_id, pool, o.lossless, s);
      i = end;
    }
    global += n;
  }
  const double secs = double(rte_rdtsc() - t_start) / double(hz);
  const bool interrupted = g_stop.load(std::memory_order_relaxed);  // before all was sent
  // The receiver reads the link's ring after we wrote it: closing the port
  // at once would take the last bursts with it (memif unmaps its region).
  // --hold leaves the ending to the receiver: DPDK 22.11's memif unmaps the
  // shared memory on a disconnect without waiting for the peer's polling
  // thread, which can crash a receiver that is mid-burst.
  rte_eth_stats st{};
  rte_eth_stats_get(port_id, &st);  // before the peer's disconnect resets them
  // The report goes out before the session ends: it tells a lab that the
  // sending is over (the receiver may now stop), and nothing is lost should
  // the ending go wrong.
  const double pps = secs > 0 ? double(s.packets) / secs : 0;
  const double bps = secs > 0 ? double(s.bytes) * 8 / secs : 0;
  if (o.json) {
    nlohmann::ordered_json j = {
        {"file", o.file},
        {"port", o.port},
        {"packets_in_file", n},
        {"loops", o.loops},
        {"sent", s.packets},
        {"bytes", s.bytes},
        {"refused", s.refused},
        {"late_s", double(s.late_ns) / 1e9},
        {"seconds", secs},
        {"pps", pps},
        {"bps", bps},
        {"interrupted", interrupted},
        {"port_stats",
         {{"opackets", st.opackets}, {"obytes", st.obytes}, {"oerrors", st.oerrors}}}};
    std::printf("%s\n", j.dump().c_str());
  } else if (!o.quiet) {
    std::printf("replay: sent %s packets (%s bytes) in %.3f s: %.0f pps, %.1f Mbit/s%s\n",
                format_count(s.packets).c_str(), format_count(s.bytes).c_str(), secs, pps,
                bps / 1e6, interrupted ? " (interrupted)" : "");
    if (s.refused)
      std::printf("replay: %s packets refused by the link (the receiver's ring was full)\n",
                  format_count(s.refused).c_str());
    if (s.late_ns)
      std::printf(
          "replay: fell %.3f s behind the schedule (this machine was busy) and did not "
          "make it up in bursts: the rate above is what was sent\n",
          double(s.late_ns) / 1e9);
    if (cap.truncated)
      std::printf("replay: %s packets were recorded shorter than on the wire; sent as recorded\n",
                  format_count(cap.truncated).c_str());
  }
  std::fflush(stdout);
  if (o.hold) {
    while (!g_stop.load(std::memory_order_relaxed)) {
      rte_eth_link link{};
      if (rte_eth_link_get_nowait(port_id, &link) == 0 && link.link_status != RTE_ETH_LINK_UP)
        break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  } else {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  close_port(port_id);
  eal_stop();

  return 0;
}

}  // namespace harrier
