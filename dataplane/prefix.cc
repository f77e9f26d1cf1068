#include "dataplane/prefix.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace harrier {

std::string ip_to_string(const IpAddr& a) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (a.family == 4)
    inet_ntop(AF_INET, a.bytes, buf, sizeof(buf));
  else if (a.family == 6)
    inet_ntop(AF_INET6, a.bytes, buf, sizeof(buf));
  else
    return "-";
  return buf;
}

std::optional<IpAddr> parse_ip(std::string_view text) {
  std::string s(text);
  uint8_t b[16];
  if (inet_pton(AF_INET, s.c_str(), b) == 1) {
    uint32_t v;
    std::memcpy(&v, b, 4);
    return IpAddr::v4(v);
  }
  if (inet_pton(AF_INET6, s.c_str(), b) == 1) return IpAddr::v6(b);
  return std::nullopt;
}

std::string Cidr::str() const {
  return ip_to_string(addr) + "/" + std::to_string(len);
}

std::optional<Cidr> Cidr::parse(std::string_view text, std::string* error) {
  const size_t slash = text.find('/');
  const std::string_view addr_part = text.substr(0, slash);
  auto ip = parse_ip(addr_part);
  if (!ip) {
    *error = "'" + std::string(text) + "' is not an IPv4 or IPv6 address or CIDR prefix";
    return std::nullopt;
  }
  const int max_len = ip->family == 4 ? 32 : 128;
  int len = max_len;
  if (slash != std::string_view::npos) {
    const std::string_view len_part = text.substr(slash + 1);
    auto [p, ec] = std::from_chars(len_part.data(), len_part.data() + len_part.size(), len);
    if (ec != std::errc() || p != len_part.data() + len_part.size() || len < 0 || len > max_len) {
      *error = "'" + std::string(text) + "': prefix length must be 0.." + std::to_string(max_len);
      return std::nullopt;
    }
  }
  Cidr c;
  c.addr = *ip;
  c.len = uint8_t(len);
  // Normalise host bits away so contains() can compare masked bytes.
  uint8_t mask[16];
  for (int i = 0; i < 16; ++i) {
    const int bit = i * 8;
    mask[i] = bit >= len ? 0 : bit + 8 > len ? uint8_t(0xFF << (8 - (len - bit))) : 0xFF;
    c.addr.bytes[i] &= mask[i];
  }
  std::memcpy(c.mask, mask, 16);
  return c;
}

}  // namespace harrier
