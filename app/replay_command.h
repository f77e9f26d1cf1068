// `harrier replay`: a DPDK transmitter for the lab. It replays a capture on
// one port (a vdev such as a net_memif client, or a PCI NIC) at a fixed
// packet rate, at a multiple of its recorded timing, or as fast as the link
// takes it, and reports what it sent and what the link refused.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace harrier {

enum class ReplayPace : uint8_t { kRecorded, kPps, kTopSpeed };

struct ReplayOptions {
  std::string file;
  std::string port;  // vdev string or PCI address
  ReplayPace pace = ReplayPace::kRecorded;
  double pps = 0;    // kPps
  double speed = 1;  // kRecorded: multiple of the recorded timing
  uint32_t loops = 1;
  // A packet the link refuses (receiver's ring full) is dropped and counted,
  // as a wire would. --lossless waits for room instead: a functional run,
  // not a rate test.
  bool lossless = false;
  double link_timeout_s = 10;
  // After sending, stay connected until the receiver takes the link down
  // (or a signal): the receiver, not the sender, ends the session.
  bool hold = false;
  std::vector<std::string> eal_extra;
  bool json = false;
  bool quiet = false;
};

// Returns the process exit status: 0 sent, 1 runtime failure, 2 bad usage.
int run_replay(const ReplayOptions& opts);

}  // namespace harrier
