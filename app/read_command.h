// `harrier read` and `harrier run`: build the engine from a validated Config,
// run it to the end of input (or a signal), and report.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "control/config.h"

namespace harrier {

struct RunOptions {
  std::vector<std::string> files;  // read: capture files, in order
  bool live = false;               // run: ports from config
  bool quiet = false;
  bool explain = false;        // full explanation of each alert in the readable summary
  bool print = false;          // tcpdump-style line per packet the capture filter keeps
  bool print_hex = false;      // ... and its bytes in hex
  bool print_numeric = false;  // ... with port numbers, not service names
  bool stats = true;           // read: print counters to stderr at the end
  // run: loads the configuration again as at start (harrierctl reload).
  std::function<Config()> reload_config;
};

// Returns the process exit status (0 ok, 1 runtime failure).
int run_engine(Config& cfg, const RunOptions& opts);

}  // namespace harrier
