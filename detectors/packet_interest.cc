#include "detectors/packet_interest.h"

#include <algorithm>

#include "detectors/detector.h"

namespace harrier {

bool PacketDispatch::add(uint32_t bit, const PacketInterest& in, std::string* error) {
  if (bit >= kMaxDetectors) {
    *error = "packet dispatch: detector " + std::to_string(bit) + " is beyond the " +
             std::to_string(kMaxDetectors) + " a flow shard can dispatch to";
    return false;
  }
  const uint32_t me = 1u << bit;
  for (unsigned c = 0; c < unsigned(PacketClass::kCount); ++c) {
    if (!(in.classes >> c & 1)) continue;
    for (unsigned f = 0; f <= packet_fact::kAll; ++f) {
      if ((f & in.all_facts) != in.all_facts) continue;
      if (in.any_facts && !(f & in.any_facts)) continue;
      if (f & in.no_facts) continue;
      by_class_facts_[c][f] |= me;
    }
  }
  for (uint32_t flags = 0; flags < 4096; ++flags)
    if (!in.tcp_flags || in.tcp_flags(uint16_t(flags)))
      (flags > 0xFF ? by_tcp_flags_high_ : by_tcp_flags_)[flags & 0xFF] |= me;
  if (in.ports.empty()) {
    any_port_ |= me;
    return true;
  }
  for (uint16_t p : in.ports) {
    port_listed_[p >> 6] |= uint64_t(1) << (p & 63);
    auto it = std::lower_bound(by_port_.begin(), by_port_.end(), std::make_pair(p, 0u),
                               [](const auto& x, const auto& y) { return x.first < y.first; });
    if (it == by_port_.end() || it->first != p) it = by_port_.insert(it, {p, 0u});
    it->second |= me;
  }
  return true;
}

uint32_t PacketDispatch::listed_port_mask(uint16_t port) const noexcept {
  auto it = std::lower_bound(by_port_.begin(), by_port_.end(), std::make_pair(port, 0u),
                             [](const auto& x, const auto& y) { return x.first < y.first; });
  return it != by_port_.end() && it->first == port ? it->second : 0;
}

}  // namespace harrier
