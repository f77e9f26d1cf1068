// A look at a capture file before the pcap PMD reads it: is it there, is it a
// pcap/pcapng file, is its link type one we decode, how many packets does it
// hold (the PMD never says when a file ends), and is it truncated.
#pragma once

#include <cstdint>
#include <string>

namespace harrier {

struct PcapFileInfo {
  uint64_t packets = 0;
  uint64_t bytes = 0;
  uint64_t first_ts_ns = 0, last_ts_ns = 0;
  bool truncated = false;  // ends mid-record: packets before that are read
  std::string truncation;  // libpcap's words about it
  int linktype = 0;
};

// Returns false with *error naming the file and the problem.
bool scan_pcap_file(const std::string& path, PcapFileInfo* info, std::string* error);

}  // namespace harrier
