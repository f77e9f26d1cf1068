#include "control/runtime_store.h"

#include <cstdio>
#include <stdexcept>

#include "detectors/registry.h"

namespace harrier {

namespace {

std::string prefixes_text(const PrefixSet& p) {
  std::string out;
  for (const Cidr& c : p.prefixes())
    out += (out.empty() ? "" : ",") + c.str();
  return out;
}

std::string value_text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// What changed in one detector's settings, as "detectors.ID.key: old -> new".
void describe(const DetectorDescriptor& d, const DetectorConfig& x, const DetectorConfig& y,
              std::vector<std::string>* out) {
  const std::string base = "detectors." + std::string(d.id);
  if (x.enabled != y.enabled) out->push_back(base + (y.enabled ? ": enabled" : ": disabled"));
  if (x.lethality != y.lethality)
    out->push_back(base + ".lethality: " + std::to_string(x.lethality) + " -> " +
                   std::to_string(y.lethality));
  for (size_t k = 0; k < x.specs.size() && k < y.values.size(); ++k) {
    const std::string key = base + "." + std::string(x.specs[k].name);
    if (x.values[k] != y.values[k])
      out->push_back(key + ": " + value_text(x.values[k]) + " -> " + value_text(y.values[k]));
    else if (k < x.lists.size() && k < y.lists.size() && x.lists[k] != y.lists[k])
      out->push_back(key + ": changed");
  }
}

// Enough of each entry to tell an edited inventory from the same one.
std::string inventory_text(const Inventory& inv) {
  std::string out;
  for (const InventoryEntry& e : inv.entries())
    out += e.net.str() + "|" + e.name + "|" + std::to_string(e.criticality) + "|" +
           std::to_string(e.system_cm) + "|" + std::to_string(e.network_cm_default) + "|" +
           std::to_string(e.services.size()) + "|" + std::to_string(e.network_cm.size()) + "\n";
  return out;
}

bool same_settings(const DetectorConfig& x, const DetectorConfig& y) {
  return x.lethality == y.lethality && x.values == y.values && x.lists == y.lists;
}

}  // namespace

RuntimeStore::RuntimeStore(const Config& cfg, bool all_detectors) {
  Generation g;
  g.cfg = std::make_unique<Config>(cfg);
  g.snap = std::make_unique<RuntimeSnapshot>();
  RuntimeSnapshot& s = *g.snap;
  s.generation = next_generation_++;
  s.rt = {&g.cfg->home, &g.cfg->inventory};
  const auto reg = detector_registry();
  for (size_t i = 0; i < reg.size(); ++i) {
    const DetectorConfig& dc = g.cfg->detectors[i];
    const Detector* d = nullptr;
    if (all_detectors || dc.enabled) {
      detectors_.push_back(reg[i]->make(*reg[i], dc));
      d = detectors_.back().get();
    }
    s.detectors.push_back(d);
    s.enabled.push_back(dc.enabled);
  }
  // Fails only when the registry outgrows the dispatch masks: a build
  // limit (tests/unit/packet_interest_test.cc checks it), not a user error.
  std::string error;
  if (!s.build_dispatch(&error)) throw std::length_error(error);
  gens_.push_back(std::move(g));
}

const RuntimeSnapshot* RuntimeStore::prepare(const Config& next, std::vector<std::string>* changes,
                                             std::string* error) {
  const Config& now = config();
  const RuntimeSnapshot& cur = *current();
  const std::vector<std::string> restart = restart_only_changes(now, next);
  if (!restart.empty()) {
    std::string list;
    for (const std::string& r : restart)
      list += (list.empty() ? "" : ", ") + r;
    *error = "nothing was changed: " + list + " cannot change while running; restart harrier";
    return nullptr;
  }
  Generation g;
  g.cfg = std::make_unique<Config>(next);
  g.snap = std::make_unique<RuntimeSnapshot>();
  RuntimeSnapshot& s = *g.snap;
  s.rt = {&g.cfg->home, &g.cfg->inventory};
  const auto reg = detector_registry();
  std::vector<std::unique_ptr<Detector>> made;
  for (size_t i = 0; i < reg.size(); ++i) {
    const DetectorConfig& x = now.detectors[i];
    const DetectorConfig& y = g.cfg->detectors[i];
    const Detector* d = cur.detectors[i];
    if (!d && y.enabled) {
      *error = std::string("nothing was changed: ") + std::string(reg[i]->id) +
               " was not built at start and cannot be enabled while running";
      return nullptr;
    }
    describe(*reg[i], x, y, changes);
    if (d && !same_settings(x, y)) {
      made.push_back(reg[i]->make(*reg[i], y));
      d = made.back().get();
    }
    s.detectors.push_back(d);
    s.enabled.push_back(y.enabled);
  }
  if (prefixes_text(now.home) != prefixes_text(next.home))
    changes->push_back("home_networks: " + prefixes_text(now.home) + " -> " +
                       prefixes_text(next.home));
  if (inventory_text(now.inventory) != inventory_text(next.inventory))
    changes->push_back("inventory: " + std::to_string(now.inventory.entries().size()) + " -> " +
                       std::to_string(next.inventory.entries().size()) + " entries");
  if (!s.build_dispatch(error)) return nullptr;
  s.generation = next_generation_++;
  for (auto& d : made)
    detectors_.push_back(std::move(d));
  gens_.push_back(std::move(g));
  return current();
}

void RuntimeStore::release_before(uint64_t generation) {
  while (gens_.size() > 1 && gens_.front().snap->generation < generation)
    gens_.pop_front();
}

}  // namespace harrier
