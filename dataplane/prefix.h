// CIDR prefixes and small prefix sets (home networks, inventory subnets).
// Matching is a linear scan: home-network lists are a handful of prefixes and
// the check runs once per new flow, not per packet.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/packet.h"

namespace harrier {

struct Cidr {
  IpAddr addr;  // masked to len
  uint8_t len = 0;
  uint64_t mask[2] = {};  // len leading one bits, as two words of address bytes

  // Two masked word compares (an address is 16 bytes, v4 in the first 4).
  bool contains(const IpAddr& a) const noexcept {
    if (a.family != addr.family) return false;
    uint64_t x[2], n[2];
    std::memcpy(x, a.bytes, 16);
    std::memcpy(n, addr.bytes, 16);
    return ((x[0] & mask[0]) == n[0]) & ((x[1] & mask[1]) == n[1]);
  }
  std::string str() const;
  // Parses "a.b.c.d[/n]" or "v6addr[/n]"; a bare address is a host prefix.
  // Returns nullopt and sets *error with what is wrong.
  static std::optional<Cidr> parse(std::string_view text, std::string* error);
};

class PrefixSet {
 public:
  void add(const Cidr& c) { prefixes_.push_back(c); }
  bool contains(const IpAddr& a) const noexcept {
    for (const Cidr& c : prefixes_)
      if (c.contains(a)) return true;
    return false;
  }
  bool empty() const { return prefixes_.empty(); }
  const std::vector<Cidr>& prefixes() const { return prefixes_; }

 private:
  std::vector<Cidr> prefixes_;
};

std::string ip_to_string(const IpAddr& a);
std::optional<IpAddr> parse_ip(std::string_view text);

}  // namespace harrier
