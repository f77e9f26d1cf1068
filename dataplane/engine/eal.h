// EAL start-up and shutdown. EAL keeps process-wide state: start it once.
#pragma once

#include <string>
#include <vector>

namespace harrier {

// Starts EAL with `args` (without argv[0]). Returns false with *error saying
// why (rte_errno text and the arguments that were used).
bool eal_start(const std::vector<std::string>& args, std::string* error);
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
