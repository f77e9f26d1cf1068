#include "detectors/inventory.h"

#include <algorithm>

namespace harrier {

void Inventory::add(InventoryEntry e) {
  entries_.push_back(std::move(e));
  std::stable_sort(
      entries_.begin(), entries_.end(),
      [](const InventoryEntry& a, const InventoryEntry& b) { return a.net.len > b.net.len; });
}

bool Inventory::serves(const IpAddr& host, uint8_t proto, uint16_t port) const noexcept {
  for (const InventoryEntry& e : entries_) {
    if (!e.net.contains(host)) continue;
    for (const Service& s : e.services)
      if (s.matches(proto, port)) return true;
  }
  return false;
}

ScoreTerms Inventory::terms(const IpAddr& host, uint8_t proto, uint16_t port) const noexcept {
  ScoreTerms t;
  bool crit = false, sys = false, net = false;
  for (const InventoryEntry& e : entries_) {
    if (!e.net.contains(host)) continue;
    if (!crit && e.criticality >= 0) t.criticality = e.criticality, crit = true;
    if (!sys && e.system_cm >= 0) t.system_cm = e.system_cm, sys = true;
    if (!net) {
      for (const NetworkCmRule& r : e.network_cm)
        if (r.service.matches(proto, port)) {
          t.network_cm = r.value;
          net = true;
          break;
        }
      if (!net && e.network_cm_default >= 0) t.network_cm = e.network_cm_default, net = true;
    }
  }
  if (!crit) t.criticality = defaults.criticality;
  if (!sys) t.system_cm = defaults.system_cm;
  if (!net) t.network_cm = defaults.network_cm;
  return t;
}

}  // namespace harrier
