// Opening ethdev ports from PCI addresses or vdev strings, with symmetric RSS
// across RX queues where the device supports it, RX timestamps where it can
// stamp them, and the mbuf pool of the port's NUMA socket.
#pragma once

#include <cstdint>
#include <string>

struct rte_mempool;

namespace harrier {

struct PortConfig {
  std::string device;  // "0000:3b:00.0" or "net_pcap0,rx_pcap=file.pcap" etc.
  uint16_t rx_queues = 1;
  uint16_t rx_descriptors = 1024;
  bool operator==(const PortConfig&) const = default;
};

struct OpenPort {
  uint16_t port_id = 0;
  int socket = 0;
  // ns per unit of the RX timestamp the PMD writes, where that is known
  // without a reference time (0: unknown).
  uint64_t ts_unit_ns = 0;
  // The NIC hashes with harrier's symmetric key (checked after start), so
  // its RSS hash may pick the flow shard; otherwise harrier hashes itself.
  bool symmetric_rss = false;
};

// The mbuf pool for `socket`, created on first use. nullptr + *error on failure.
rte_mempool* mbuf_pool(int socket, uint32_t mbufs, std::string* error);

// The value of `key=` in a vdev's argument string ("" when absent).
std::string devarg(const std::string& device, const std::string& key);

// "0000:3b:00.0" or "3b:00.0", not a vdev string.
bool is_pci_address(const std::string& device);
// Finds a PCI port, or creates a vdev (a memif server's stale socket file
// removed first): its port id, or false and *error.
bool find_port(const std::string& device, uint16_t* port_id, std::string* error);

// Probes (vdev) or finds (PCI) the device, configures and starts it.
bool open_port(const PortConfig& cfg, uint32_t mbufs, OpenPort* out, std::string* error);
void close_port(uint16_t port_id);

}  // namespace harrier
