#include "engine/port.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <string_view>
#include <vector>

#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <spdlog/spdlog.h>

#include "engine/eal.h"

#include "dataplane/softrss.h"

namespace harrier {

rte_mempool* mbuf_pool(int socket, uint32_t mbufs, std::string* error) {
  static std::map<int, rte_mempool*> pools;
  if (socket < 0) socket = 0;
  auto it = pools.find(socket);
  if (it != pools.end()) return it->second;
  rte_mempool* mp = rte_pktmbuf_pool_create(("mbufs_s" + std::to_string(socket)).c_str(), mbufs,
                                            256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, socket);
  if (!mp) {
    *error = "cannot create a pool of " + std::to_string(mbufs) + " mbufs on socket " +
             std::to_string(socket) + ": " + rte_strerror(rte_errno) +
             " (hugepages configured? read mode runs with --no-huge)";
    return nullptr;
  }
  pools[socket] = mp;
  return mp;
}

std::string devarg(const std::string& dev, const std::string& key) {
  size_t at = 0;
  while ((at = dev.find(key + "=", at)) != std::string::npos) {
    if (at > 0 && dev[at - 1] == ',') {
      const size_t from = at + key.size() + 1;
      return dev.substr(from, dev.find(',', from) - from);
    }
    at += key.size();
  }
  return "";
}

namespace {

// A memif server binds its socket file and refuses to start when the file
// exists, which it does after a crash. A file nobody answers on is stale and
// goes; one that answers belongs to a running process and is named.
bool clear_stale_memif_socket(const std::string& dev, std::string* error) {
  if (dev.rfind("net_memif", 0) != 0 || devarg(dev, "role") != "server" ||
      devarg(dev, "socket-abstract") != "no")
    return true;
  const std::string path = devarg(dev, "socket");
  struct stat st;
  if (path.empty() || lstat(path.c_str(), &st) != 0) return true;
  if (!S_ISSOCK(st.st_mode)) {
    *error = "memif socket " + path + " exists and is not a socket; remove it or choose another";
    return false;
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return true;  // memif itself will say
  std::memcpy(addr.sun_path, path.data(), path.size());
  const int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return true;  // memif itself will say
  const int rc = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  const int why = errno;
  close(fd);
  if (rc == 0) {
    *error = "memif socket " + path + " is served by another running process";
    return false;
  }
  if (why != ECONNREFUSED) {  // not provably stale (no permission, ...): leave it
    *error = "memif socket " + path + " exists and cannot be checked: " + std::strerror(why);
    return false;
  }
  if (unlink(path.c_str()) != 0) {
    *error = "memif socket " + path +
             " is left from an earlier run and cannot be removed: " + std::strerror(errno);
    return false;
  }
  spdlog::info("removed the stale memif socket {} (left by an earlier run)", path);
  return true;
}

// Spreads the redirection table evenly over the queues and checks that the
// NIC kept the symmetric key: a NIC hashing with another key would send the
// two directions of a flow to different workers, so its hash is then not
// used (harrier computes its own).
bool program_rss(uint16_t port_id, const std::string& dev, uint16_t queues,
                 const rte_eth_dev_info& info, const std::vector<uint8_t>& key) {
  if (info.reta_size > 0) {
    std::vector<rte_eth_rss_reta_entry64> reta((info.reta_size + RTE_ETH_RETA_GROUP_SIZE - 1) /
                                               RTE_ETH_RETA_GROUP_SIZE);
    for (uint16_t i = 0; i < info.reta_size; ++i) {
      auto& group = reta[i / RTE_ETH_RETA_GROUP_SIZE];
      group.mask |= 1ull << (i % RTE_ETH_RETA_GROUP_SIZE);
      group.reta[i % RTE_ETH_RETA_GROUP_SIZE] = uint16_t(i % queues);
    }
    if (int rc = rte_eth_dev_rss_reta_update(port_id, reta.data(), info.reta_size); rc != 0)
      spdlog::warn(
          "port {}: cannot program the RSS redirection table ({}); queues may be "
          "filled unevenly",
          dev, rte_strerror(-rc));
  }
  std::vector<uint8_t> got(key.size());
  rte_eth_rss_conf now{};
  now.rss_key = got.data();
  now.rss_key_len = uint8_t(got.size());
  const int rc = rte_eth_dev_rss_hash_conf_get(port_id, &now);
  // harrier's own hash covers ports for TCP and UDP over IPv4 and IPv6: a
  // NIC that hashes any of them on addresses only would split a flow from
  // the ICMP errors about it.
  const uint64_t l4 = RTE_ETH_RSS_NONFRAG_IPV4_TCP | RTE_ETH_RSS_NONFRAG_IPV4_UDP |
                      RTE_ETH_RSS_NONFRAG_IPV6_TCP | RTE_ETH_RSS_NONFRAG_IPV6_UDP;
  const char* why = nullptr;
  if (rc != 0)
    why = "the NIC does not report its RSS settings";
  else if (got != key)
    why = "the NIC did not keep harrier's symmetric RSS key";
  else if ((now.rss_hf & l4) != l4)
    why = "the NIC does not hash TCP and UDP ports on both IPv4 and IPv6";
  if (why) {
    spdlog::warn(
        "port {}: {}; workers are picked by harrier's own symmetric hash instead of the "
        "NIC's (costs a hash per packet)",
        dev, why);
    return false;
  }
  return true;
}
}  // namespace

bool is_pci_address(const std::string& d) {
  // dddd:bb:dd.f or bb:dd.f
  const size_t colon = d.find(':'), dot = d.find('.');
  return colon != std::string::npos && dot != std::string::npos &&
         d.find(',') == std::string::npos && d.find('=') == std::string::npos;
}

bool find_port(const std::string& dev, uint16_t* port_id, std::string* error) {
  if (is_pci_address(dev)) {
    if (rte_eth_dev_get_port_by_name(dev.c_str(), port_id) != 0) {
      *error = "no DPDK port for PCI device " + dev +
               " (is it bound to vfio-pci or uio, and allowed by the EAL arguments? see "
               "scripts/bind-nic)";
      return false;
    }
    return true;
  }
  if (!clear_stale_memif_socket(dev, error)) return false;
  const int rc = rte_dev_probe(dev.c_str());
  if (rc < 0) {
    *error = "cannot create device '" + dev + "': " + rte_strerror(-rc);
    return false;
  }
  const std::string name = dev.substr(0, dev.find(','));
  if (rte_eth_dev_get_port_by_name(name.c_str(), port_id) != 0) {
    *error = "device '" + name + "' was probed but is not an ethdev port";
    return false;
  }
  return true;
}

bool open_port(const PortConfig& cfg, uint32_t mbufs, OpenPort* out, std::string* error) {
  uint16_t port_id = 0;
  const std::string& dev = cfg.device;
  if (!find_port(dev, &port_id, error)) return false;
  rte_eth_dev_info info{};
  if (int rc = rte_eth_dev_info_get(port_id, &info); rc != 0) {
    *error = "cannot query port " + dev + ": " + rte_strerror(-rc);
    return false;
  }
  if (cfg.rx_queues > info.max_rx_queues) {
    *error = "port " + dev + " has at most " + std::to_string(info.max_rx_queues) +
             " RX queues, config asks for " + std::to_string(cfg.rx_queues);
    return false;
  }
  int socket = rte_eth_dev_socket_id(port_id);
  if (socket < 0) socket = 0;

  rte_eth_conf conf{};
  // The symmetric key is one 16-bit pattern repeated: stretch it to the
  // NIC's key size (40 bytes on most, 52 on i40e).
  std::vector<uint8_t> key(info.hash_key_size ? info.hash_key_size : kRssKeyLen);
  for (size_t i = 0; i < key.size(); ++i)
    key[i] = kSymmetricRssKey[i % kRssKeyLen];
  const uint64_t want_hf = RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP;
  const bool rss = cfg.rx_queues > 1 && (info.flow_type_rss_offloads & want_hf) != 0;
  if (cfg.rx_queues > 1 && !rss)
    spdlog::info(
        "port {}: no RSS on this device; its {} queues are filled as the PMD does, and "
        "harrier spreads flows to workers by its own symmetric hash",
        dev, cfg.rx_queues);
  if (rss) {
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_key = key.data();
    conf.rx_adv_conf.rss_conf.rss_key_len = uint8_t(key.size());
    conf.rx_adv_conf.rss_conf.rss_hf = info.flow_type_rss_offloads & want_hf;
    if (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_RSS_HASH)
      conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_RSS_HASH;
  }
  // Packet time from the PMD where it offers it. (22.11's pcap PMD stamps
  // file time without advertising the offload; PacketSource copes with both.)
  if (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_TIMESTAMP)
    conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_TIMESTAMP;
  if (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_SCATTER)
    conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_SCATTER;

  // harrier never transmits, but DPDK's packet capture (dpdk-dumpcap)
  // installs its callbacks on RX and TX queues alike and refuses a port
  // without a TX queue: give it one, idle.
  const uint16_t tx_queues = info.max_tx_queues > 0 ? 1 : 0;
  if (int rc = rte_eth_dev_configure(port_id, cfg.rx_queues, tx_queues, &conf); rc != 0) {
    *error = "cannot configure port " + dev + ": " + rte_strerror(-rc);
    return false;
  }
  rte_mempool* pool = mbuf_pool(socket, mbufs, error);
  if (!pool) return false;
  uint16_t nb_rxd = cfg.rx_descriptors, nb_txd = 64;
  rte_eth_dev_adjust_nb_rx_tx_desc(port_id, &nb_rxd, &nb_txd);
  if (tx_queues) {
    if (int rc = rte_eth_tx_queue_setup(port_id, 0, nb_txd, unsigned(socket), nullptr); rc != 0) {
      *error = "cannot set up the (idle) TX queue of port " + dev + ": " + rte_strerror(-rc);
      return false;
    }
  }
  for (uint16_t q = 0; q < cfg.rx_queues; ++q) {
    if (int rc = rte_eth_rx_queue_setup(port_id, q, nb_rxd, unsigned(socket), nullptr, pool);
        rc != 0) {
      *error = "cannot set up RX queue " + std::to_string(q) + " of port " + dev + ": " +
               rte_strerror(-rc);
      return false;
    }
  }
  if (int rc = rte_eth_dev_start(port_id); rc != 0) {
    *error = "cannot start port " + dev + ": " + rte_strerror(-rc);
    return false;
  }
  rte_eth_promiscuous_enable(port_id);  // not every PMD has it; harmless where absent
  if (rss) out->symmetric_rss = program_rss(port_id, dev, cfg.rx_queues, info, key);
  out->port_id = port_id;
  out->socket = socket;
  // DPDK 22.11's pcap PMD stamps microseconds (offline reading learns the
  // same from each file's first packet time).
  if (info.driver_name && std::string(info.driver_name) == "net_pcap") out->ts_unit_ns = 1000;
  return true;
}

void close_port(uint16_t port_id) {
  rte_eth_dev_info info{};
  const bool memif = rte_eth_dev_info_get(port_id, &info) == 0 && info.driver_name &&
                     std::string_view(info.driver_name) == "net_memif";
  if (!memif) {
    rte_eth_dev_stop(port_id);
    rte_eth_dev_close(port_id);
    return;
  }
  // A peer's disconnect runs memif_disconnect on the interrupt thread; ours
  // must not run beside it (double unmap and free), nor free the device
  // while that thread still uses it. The poller has stopped by now.
  on_intr_thread([port_id] {
    rte_eth_dev_stop(port_id);
    rte_eth_dev_close(port_id);
  });
  intr_quiesce();
}

}  // namespace harrier
