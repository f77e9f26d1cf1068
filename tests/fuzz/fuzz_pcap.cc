// A capture file, any bytes: the pre-scan every read and replay runs
// (libpcap's reader behind harrier's checks).
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "engine/pcap_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 1 << 20) return 0;
  static const std::string path = "/tmp/harrier-fuzz-pcap-" + std::to_string(getpid()) + ".pcap";
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  harrier::PcapFileInfo info;
  std::string err;
  uint64_t bytes = 0;
  harrier::scan_pcap_file(path, &info, &err,
                          [&](uint64_t, const uint8_t* p, uint32_t caplen, uint32_t) {
                            if (caplen)
                              bytes += p[caplen - 1];  // every byte it hands out is readable
                            return true;
                          });
  return 0;
}
