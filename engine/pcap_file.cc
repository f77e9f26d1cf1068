#include "engine/pcap_file.h"

#include <pcap/pcap.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace harrier {

bool scan_pcap_file(const std::string& path, PcapFileInfo* info, std::string* error,
                    const PcapPacketVisitor& each, const std::function<bool()>& stop) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    *error = path + ": " + std::strerror(errno);
    return false;
  }
  if (S_ISDIR(st.st_mode)) {
    *error = path + ": is a directory, not a capture file";
    return false;
  }
  if (access(path.c_str(), R_OK) != 0) {
    *error = path + ": not readable: " + std::strerror(errno);
    return false;
  }
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_t* p =
      pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
  if (!p) {
    *error = path + ": not a pcap or pcapng capture (" + errbuf + ")";
    return false;
  }
  info->linktype = pcap_datalink(p);
  if (info->linktype != DLT_EN10MB) {
    *error = path + ": link type " + std::string(pcap_datalink_val_to_name(info->linktype) ?: "?") +
             " is not Ethernet; harrier reads Ethernet captures (DLT_EN10MB)";
    pcap_close(p);
    return false;
  }
  pcap_pkthdr* h;
  const u_char* data;
  int rc;
  while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
    if (stop && (info->packets & 4095) == 0 && stop()) {
      info->interrupted = true;
      break;
    }
    const uint64_t ts = uint64_t(h->ts.tv_sec) * 1'000'000'000ull + uint64_t(h->ts.tv_usec);
    if (info->first_ts_ns == 0) info->first_ts_ns = ts;  // the first non-zero time
    info->last_ts_ns = ts;
    ++info->packets;
    info->bytes += h->caplen;
    if (each && !each(ts, data, h->caplen, h->len)) {
      pcap_close(p);
      return false;
    }
  }
  // A signal that cut a read short (EINTR on a pipe) is a stop, not damage.
  if (stop && !info->interrupted && stop()) info->interrupted = true;
  if (rc == PCAP_ERROR && !info->interrupted) {
    info->truncated = true;
    info->truncation = pcap_geterr(p);
  }
  pcap_close(p);
  return true;
}

}  // namespace harrier
