// Unit tests run with EAL up (rte_hash and rte_malloc need it), without
// hugepages, PCI or shared config, so they run anywhere and side by side.
#include <unistd.h>

#include <gtest/gtest.h>

#include "engine/eal.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  std::string err;
  if (!harrier::eal_start({"--no-huge", "--no-shconf", "--no-pci", "--no-telemetry", "-l", "0",
                           "-m", "512", "--file-prefix", "harrier-unit-" + std::to_string(getpid()),
                           "--log-level", "lib.eal:error"},
                          &err)) {
    fprintf(stderr, "%s\n", err.c_str());
    return 1;
  }
  const int rc = RUN_ALL_TESTS();
  harrier::eal_stop();
  return rc;
}
