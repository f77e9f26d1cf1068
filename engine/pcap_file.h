// A look at a capture file before the pcap PMD reads it: is it there, is it a
// pcap/pcapng file, is its link type one we decode, how many packets does it
// hold (the PMD never says when a file ends), and is it truncated.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace harrier {

struct PcapFileInfo {
  uint64_t packets = 0;
  uint64_t bytes = 0;
  uint64_t first_ts_ns = 0, last_ts_ns = 0;
  bool truncated = false;  // ends mid-record: packets before that are read
  std::string truncation;  // libpcap's words about it
  int linktype = 0;
  bool interrupted = false;  // the scan was asked to stop before the end
};

// One packet of the file: its time (ns), the bytes recorded, and its length
// on the wire. Return false to stop the scan (set the error yourself).
using PcapPacketVisitor =
    std::function<bool(uint64_t ts_ns, const uint8_t* data, uint32_t caplen, uint32_t wire_len)>;

// Returns false with *error naming the file and the problem. `each`, when
// given, sees every packet in order (harrier replay loads the file so).
// `stop`, when given, is asked every 4,096 packets; true ends the scan early
// with info->interrupted set (a signal arrived).
bool scan_pcap_file(const std::string& path, PcapFileInfo* info, std::string* error,
                    const PcapPacketVisitor& each = {},
                    const std::function<bool()>& stop = {});

}  // namespace harrier
