// The asset inventory: which home hosts and subnets serve what, how critical
// they are, and what stands between them and the outside (countermeasures).
// Built once by control/ from config, then immutable and shared read-only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dataplane/prefix.h"

namespace harrier {

struct Service {
  uint8_t proto = 0;  // 6 tcp, 17 udp, 0 any
  uint16_t port_lo = 0, port_hi = 0;
  bool matches(uint8_t p, uint16_t port) const {
    return (proto == 0 || proto == p) && port >= port_lo && port <= port_hi;
  }
};

struct NetworkCmRule {
  Service service;
  uint8_t value = 1;
};

struct InventoryEntry {
  Cidr net;
  std::string name;
  int criticality = -1;  // -1: inherit from a less specific entry or the defaults
  int system_cm = -1;
  int network_cm_default = -1;
  std::vector<Service> services;
  std::vector<NetworkCmRule> network_cm;
};

struct ScoreTerms {
  int criticality = 3;
  int system_cm = 3;
  int network_cm = 1;
};

class Inventory {
 public:
  ScoreTerms defaults;

  // Entries are kept most specific first.
  void add(InventoryEntry e);
  const std::vector<InventoryEntry>& entries() const { return entries_; }

  // Does the inventory list (host, proto, port) as a served service?
  bool serves(const IpAddr& host, uint8_t proto, uint16_t port) const noexcept;
  // The severity terms of a target: most specific entry that sets each term.
  ScoreTerms terms(const IpAddr& host, uint8_t proto, uint16_t port) const noexcept;

 private:
  std::vector<InventoryEntry> entries_;
};

}  // namespace harrier
