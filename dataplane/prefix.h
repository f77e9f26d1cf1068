// CIDR prefixes and small prefix sets (home networks, inventory subnets).
// Matching is a linear scan: home-network lists are a handful of prefixes and
// the check runs once per new flow, not per packet.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/packet.h"

namespace harrier {

struct Cidr {
  IpAddr addr;  // masked to len
  uint8_t len = 0;

  bool contains(const IpAddr& a) const noexcept;
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
