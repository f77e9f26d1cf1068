// EAL for the fuzz targets whose shards keep their tables in DPDK memory:
// no hugepages, devices or shared state, a prefix of the process's own.
#pragma once

#include <unistd.h>

#include <string>

#include "engine/eal.h"

namespace harrier {

inline void fuzz_eal_start() {
  std::string err;
  if (!eal_start({"--no-huge", "--no-shconf", "--no-pci", "--no-telemetry", "-l", "0", "-m", "1024",
                  "--file-prefix", "harrier-fuzz-" + std::to_string(getpid()), "--log-level",
                  "lib.eal:error"},
                 &err))
    __builtin_trap();
}

}  // namespace harrier
