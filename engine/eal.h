// EAL start-up and shutdown. EAL keeps process-wide state: start it once.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace harrier {

// Starts EAL with `args` (without argv[0]). Returns false with *error saying
// why (rte_errno text and the arguments that were used).
bool eal_start(const std::vector<std::string>& args, std::string* error);
// Runs `fn` on EAL's interrupt thread and waits for it: serialised with every
// PMD interrupt handler. DPDK 22.11's memif tears a session down from that
// thread when the peer leaves (unmapping the shared regions, freeing the
// control channel) and from the caller's thread on rte_eth_dev_stop, with
// nothing between the two; stopping a memif port here makes them one at a
// time (docs/operations.md, "memif session end").
void on_intr_thread(const std::function<void()>& fn);
// Waits until the interrupt thread has finished whatever it had pending.
void intr_quiesce();

// Stops EAL and, in a primary process, removes its runtime directory.
void eal_stop();

// Stops EAL when it goes out of scope: declare it right after eal_start, so
// that every DPDK object declared after it is freed first, on any return.
struct EalSession {
  EalSession() = default;
  EalSession(const EalSession&) = delete;
  EalSession& operator=(const EalSession&) = delete;
  ~EalSession() { eal_stop(); }
};

}  // namespace harrier
