#include "capture/packet_printer.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string_view>
#include <ctime>

namespace harrier {

namespace {

uint16_t rd16(const uint8_t* p) {
  return uint16_t(p[0] << 8 | p[1]);
}
uint32_t rd32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}

template <typename... Args>
void appendf(std::string& out, const char* fmt, Args... args) {
  char buf[256];
  const int n = std::snprintf(buf, sizeof buf, fmt, args...);
  if (n > 0) out.append(buf, std::min<size_t>(size_t(n), sizeof buf - 1));
}

std::string addr_text(const IpAddr& a) {
  char buf[INET6_ADDRSTRLEN] = "?";
  inet_ntop(a.family == 6 ? AF_INET6 : AF_INET, a.bytes, buf, sizeof buf);
  return buf;
}

// TCP options as tcpdump 3 wrote them: <mss 1460,sackOK,timestamp 1 0,nop,wscale 0>.
void tcp_options(const uint8_t* p, uint32_t len, std::string& out) {
  out += " <";
  bool first = true;
  auto sep = [&] {
    if (!first) out += ',';
    first = false;
  };
  uint32_t i = 0;
  while (i < len) {
    const uint8_t kind = p[i];
    sep();
    if (kind == 0) {
      out += "eol";
      break;
    }
    if (kind == 1) {
      out += "nop";
      ++i;
      continue;
    }
    if (i + 1 >= len || p[i + 1] < 2 || i + p[i + 1] > len) {
      out += "[|tcp]";
      break;
    }
    const uint8_t olen = p[i + 1];
    const uint8_t* o = p + i + 2;
    if (kind == 2 && olen == 4)
      appendf(out, "mss %u", rd16(o));
    else if (kind == 3 && olen == 3)
      appendf(out, "wscale %u", o[0]);
    else if (kind == 4 && olen == 2)
      out += "sackOK";
    else if (kind == 5 && (olen - 2) % 8 == 0) {
      appendf(out, "sack %u ", (olen - 2) / 8);
      for (int b = 0; b + 8 <= olen - 2; b += 8)
        appendf(out, "{%u:%u}", rd32(o + b), rd32(o + b + 4));
    } else if (kind == 8 && olen == 10)
      appendf(out, "timestamp %u %u", rd32(o), rd32(o + 4));
    else
      appendf(out, "opt-%u:", kind);
    i += olen;
  }
  out += '>';
}

const char* nbns_opcode(unsigned op) {
  switch (op) {
    case 0:
      return "QUERY";
    case 5:
      return "REGISTER";
    case 6:
      return "RELEASE";
    case 7:
      return "WACK";
    case 8:
      return "REFRESH(8)";
    case 9:
      return "REFRESH";
    case 15:
      return "MULTIHOMED REGISTER";
    default:
      return "OPUNKNOWN";
  }
}

void hex_dump(const uint8_t* p, uint32_t len, std::string& out) {
  for (uint32_t off = 0; off < len; off += 16) {
    const uint32_t n = std::min<uint32_t>(16, len - off);
    appendf(out, "0x%04x  ", off);
    for (uint32_t k = 0; k < 16; k += 2) {
      if (k < n)
        appendf(out, "%02x", p[off + k]);
      else
        out += "  ";
      if (k + 1 < n)
        appendf(out, "%02x", p[off + k + 1]);
      else
        out += "  ";
      out += ' ';
    }
    out += ' ';
    for (uint32_t k = 0; k < n; ++k) {
      const uint8_t c = p[off + k];
      out += (c >= 0x20 && c < 0x7F) ? char(c) : '.';
    }
    out += '\n';
  }
}

}  // namespace

PacketPrinter::PacketPrinter(const PrintOptions& opts) : opts_(opts) {
  if (opts_.numeric) return;
  for (auto& s : services_)
    s.resize(65536);
  // One pass over /etc/services (getservbyport would read it per port).
  setservent(1);
  while (const servent* e = getservent()) {
    const int slot = std::string_view(e->s_proto) == "tcp"   ? 0
                     : std::string_view(e->s_proto) == "udp" ? 1
                                                             : -1;
    const uint16_t port = ntohs(uint16_t(e->s_port));
    if (slot >= 0 && services_[size_t(slot)][port].empty())
      services_[size_t(slot)][port] = e->s_name;
  }
  endservent();
}

const char* PacketPrinter::port_name(uint16_t port, uint8_t proto) const {
  if (opts_.numeric || (proto != 6 && proto != 17)) return nullptr;
  const std::string& s = services_[proto == 6 ? 0 : 1][port];
  return s.empty() ? nullptr : s.c_str();
}

void PacketPrinter::endpoint(const IpAddr& a, uint16_t port, uint8_t proto, bool with_port,
                             std::string& out) {
  out += addr_text(a);
  if (!with_port) return;
  out += '.';
  if (const char* name = port_name(port, proto))
    out += name;
  else
    appendf(out, "%u", port);
}

void PacketPrinter::print(const PacketView& v, DecodeError err, const uint8_t* data,
                          uint32_t caplen, uint64_t ts_ns, std::string& out) {
  const time_t secs = time_t(ts_ns / 1'000'000'000ull);
  struct tm tm {};
  localtime_r(&secs, &tm);
  appendf(out, "%02d:%02d:%02d.%06u ", tm.tm_hour, tm.tm_min, tm.tm_sec,
          unsigned(ts_ns % 1'000'000'000ull / 1000));
  const uint32_t l3_off = caplen >= 14 ? 14 + 4u * v.vlan_count : caplen;
  const uint8_t* l3 = data + std::min(l3_off, caplen);
  const uint32_t l3_cap = caplen > l3_off ? caplen - l3_off : 0;

  if (v.ip_version == 0) {
    if (v.ether_type == 0x0800 || v.ether_type == 0x86DD)
      out += v.ether_type == 0x0800 ? "IP [|ip]" : "IP6 [|ip6]";  // too short for its header
    else if (v.ether_type == 0x0806)
      print_arp(l3, l3_cap, out);
    else if (err == DecodeError::kTruncatedEthernet || err == DecodeError::kTruncatedVlan)
      out += "[|ether]";
    else
      appendf(out, "ethertype 0x%04x, length %u", v.ether_type, v.wire_len);
  } else if (err == DecodeError::kTruncatedIpv4 || err == DecodeError::kBadIpv4Header ||
             err == DecodeError::kTruncatedIpv6 || err == DecodeError::kBadIpv6ExtHeader) {
    out += addr_text(v.src) + " > " + addr_text(v.dst) + ": [|ip]";
  } else {
    const bool ports =
        v.has_ports() && (err == DecodeError::kNone || err == DecodeError::kBadTcpHeader);
    endpoint(v.src, v.sport, v.ip_proto, ports, out);
    out += " > ";
    endpoint(v.dst, v.dport, v.ip_proto, ports, out);
    out += ':';
    // The IP header's length: up to the transport header, or for a later
    // fragment (no transport header) the IPv4 IHL / IPv6 fixed header.
    const uint32_t hdr_len = v.l4 ? uint32_t(v.l4 - l3) : v.payload ? uint32_t(v.payload - l3) : 0;
    const uint32_t l4_len = v.ip_total_len > hdr_len ? v.ip_total_len - hdr_len : 0;
    if (v.is_later_fragment) {
      // The fragment line below says it all.
    } else if (err == DecodeError::kTruncatedTcp || err == DecodeError::kBadTcpHeader) {
      out += " [|tcp]";
    } else if (err == DecodeError::kTruncatedUdp) {
      out += " [|udp]";
    } else if (err == DecodeError::kTruncatedIcmp) {
      out += v.ip_proto == 58 ? " [|icmp6]" : " [|icmp]";
    } else if (v.proto == L4Proto::kTcp) {
      print_tcp(v, l4_len, out);
    } else if (v.proto == L4Proto::kUdp) {
      print_udp(v, out);
    } else if (v.proto == L4Proto::kIcmp || v.proto == L4Proto::kIcmp6) {
      print_icmp(v, out);
    } else {
      appendf(out, " ip-proto-%u %u", v.ip_proto, l4_len);
    }
    if (v.ip_version == 4 && l3_cap >= 20) {
      const uint16_t frag = rd16(l3 + 6);
      if (frag & 0x3FFF)
        appendf(out, " (frag %u:%u@%u%s)", v.ip_id, l4_len, unsigned(frag & 0x1FFF) * 8,
                (frag & 0x2000) ? "+" : "");
      else if (frag & 0x4000)
        out += " (DF)";
      if (v.tos) appendf(out, " [tos 0x%x]", v.tos);
      if (v.ttl <= 1) appendf(out, " [ttl %u]", v.ttl);
    }
  }
  out += '\n';
  // Like tcpdump, the dump ends with the IP packet, not the frame's padding.
  if (opts_.hex)
    hex_dump(l3,
             v.ip_version && v.ip_total_len ? std::min<uint32_t>(l3_cap, v.ip_total_len) : l3_cap,
             out);
}

void PacketPrinter::print_tcp(const PacketView& v, uint32_t l4_len, std::string& out) {
  using namespace tcp_flag;
  const uint16_t f = v.tcp_flags;
  out += ' ';
  if (f & (kSyn | kFin | kRst | kPsh | kCwr | kEce)) {
    if (f & kSyn) out += 'S';
    if (f & kFin) out += 'F';
    if (f & kRst) out += 'R';
    if (f & kPsh) out += 'P';
    if (f & kCwr) out += 'W';
    if (f & kEce) out += 'E';
  } else {
    out += '.';
  }
  const uint32_t doff = uint32_t(v.payload - v.l4);
  const uint32_t len = l4_len > doff ? l4_len - doff : 0;
  uint32_t seq = v.tcp_seq, ack = v.tcp_ack;
  if (!opts_.absolute_seq && (f & kAck)) {
    // tcpdump's rule: a conversation's first ACK-bearing segment (or any
    // SYN) sets the bases and prints absolute; later ones print relative.
    const bool rev = v.dst < v.src || (v.src == v.dst && v.dport < v.sport);
    std::string key;
    key.reserve(38);
    const IpAddr& a = rev ? v.dst : v.src;
    const IpAddr& b = rev ? v.src : v.dst;
    const uint16_t pa = rev ? v.dport : v.sport, pb = rev ? v.sport : v.dport;
    key.append(reinterpret_cast<const char*>(a.bytes), 16);
    key.append(reinterpret_cast<const char*>(b.bytes), 16);
    key.append(reinterpret_cast<const char*>(&pa), 2);
    key.append(reinterpret_cast<const char*>(&pb), 2);
    auto it = conversations_.find(key);
    if (it == conversations_.end() || (f & kSyn)) {
      if (conversations_.size() >= (1u << 20)) conversations_.clear();  // bound memory
      conversations_[key] = rev ? SeqBase{ack - 1, seq} : SeqBase{seq, ack - 1};
    } else if (rev) {
      seq -= it->second.ack, ack -= it->second.seq;
    } else {
      seq -= it->second.seq, ack -= it->second.ack;
    }
  }
  if (len > 0 || (f & (kSyn | kFin | kRst))) appendf(out, " %u:%u(%u)", seq, seq + len, len);
  if (f & kAck) appendf(out, " ack %u", ack);
  appendf(out, " win %u", v.tcp_window);
  if (f & kUrg) appendf(out, " urg %u", v.tcp_urgent);
  if (doff > 20) tcp_options(v.l4 + 20, doff - 20, out);
}

void PacketPrinter::print_udp(const PacketView& v, std::string& out) {
  const uint16_t ulen = rd16(v.l4 + 4);
  const uint8_t* p = v.payload;
  // NetBIOS name service, as the seed's traces show it.
  if ((v.sport == 137 || v.dport == 137) && v.payload_len >= 12) {
    const uint16_t flags = rd16(p + 2);
    const bool response = flags & 0x8000;
    out += "\n>>> NBT UDP PACKET(137): ";
    out += nbns_opcode((flags >> 11) & 0xF);
    if (response) out += (flags & 0xF) ? "; NEGATIVE" : "; POSITIVE";
    out += response ? "; RESPONSE" : "; REQUEST";
    out += (flags & 0x10) ? "; BROADCAST" : "; UNICAST";
    return;
  }
  appendf(out, " udp %u", ulen >= 8 ? ulen - 8u : 0u);
}

void PacketPrinter::print_icmp(const PacketView& v, std::string& out) {
  const QuotedPacket& q = v.quoted;
  if (v.proto == L4Proto::kIcmp6) {
    out += " icmp6: ";
    switch (v.icmp_type) {
      case 1:
        out += "destination unreachable";
        break;
      case 2:
        out += "packet too big";
        break;
      case 3:
        out += "time exceeded in-transit";
        break;
      case 4:
        out += "parameter problem";
        break;
      case 128:
        out += "echo request";
        break;
      case 129:
        out += "echo reply";
        break;
      case 133:
        out += "router solicitation";
        break;
      case 134:
        out += "router advertisement";
        break;
      case 135:
        out += "neighbor solicitation";
        break;
      case 136:
        out += "neighbor advertisement";
        break;
      default:
        appendf(out, "type-#%u", v.icmp_type);
    }
    return;
  }
  out += " icmp: ";
  const std::string dst = q.present ? addr_text(q.dst) : std::string("?");
  switch (v.icmp_type) {
    case 0:
      out += "echo reply";
      break;
    case 8:
      out += "echo request";
      break;
    case 3:
      switch (v.icmp_code) {
        case 0:
          out += "net " + dst + " unreachable";
          break;
        case 1:
          out += "host " + dst + " unreachable";
          break;
        case 2:
          appendf(out, "%s protocol %u unreachable", dst.c_str(), q.ip_proto);
          break;
        case 3:
        case 13:
          if (v.icmp_code == 3 && q.has_ports && (q.ip_proto == 6 || q.ip_proto == 17)) {
            out += dst + (q.ip_proto == 6 ? " tcp port " : " udp port ");
            if (const char* name = port_name(q.dport, q.ip_proto))
              out += name;
            else
              appendf(out, "%u", q.dport);
            out += " unreachable";
          } else if (v.icmp_code == 3) {
            out += dst + " port unreachable";
          } else {
            out += dst + " unreachable - admin prohibited filter";
          }
          break;
        case 4:
          appendf(out, "%s unreachable - need to frag (mtu %u)", dst.c_str(), v.icmp_seq);
          break;
        case 9:
          out += "net " + dst + " unreachable - admin prohibited";
          break;
        case 10:
          out += "host " + dst + " unreachable - admin prohibited";
          break;
        default:
          appendf(out, "%s unreachable - #%u", dst.c_str(), v.icmp_code);
      }
      break;
    case 4:
      out += "source quench";
      break;
    case 5: {
      IpAddr gw = IpAddr::v4(0);
      std::memcpy(gw.bytes, v.l4 + 4, 4);
      out += "redirect " + dst + " to host " + addr_text(gw);
      break;
    }
    case 9:
      out += "router advertisement";
      break;
    case 10:
      out += "router solicitation";
      break;
    case 11:
      out += v.icmp_code == 0 ? "time exceeded in-transit" : "ip reassembly time exceeded";
      break;
    case 12:
      out += "parameter problem";
      break;
    case 13:
      appendf(out, "time stamp query id %u seq %u", v.icmp_id, v.icmp_seq);
      break;
    case 14:
      appendf(out, "time stamp reply id %u seq %u", v.icmp_id, v.icmp_seq);
      break;
    case 17:
      out += "address mask request";
      break;
    case 18:
      out += "address mask reply";
      break;
    default:
      appendf(out, "type-#%u", v.icmp_type);
  }
}

void PacketPrinter::print_arp(const uint8_t* p, uint32_t len, std::string& out) {
  // Ethernet/IPv4 ARP only; anything else by its numbers.
  if (len < 28 || rd16(p) != 1 || rd16(p + 2) != 0x0800 || p[4] != 6 || p[5] != 4) {
    out += "arp [|arp]";
    return;
  }
  const uint16_t op = rd16(p + 6);
  IpAddr spa = IpAddr::v4(0), tpa = IpAddr::v4(0);
  std::memcpy(spa.bytes, p + 14, 4);
  std::memcpy(tpa.bytes, p + 24, 4);
  if (op == 1) {
    out += "arp who-has " + addr_text(tpa) + " tell " + addr_text(spa);
  } else if (op == 2) {
    out += "arp reply " + addr_text(spa) + " is-at ";
    appendf(out, "%02x:%02x:%02x:%02x:%02x:%02x", p[8], p[9], p[10], p[11], p[12], p[13]);
  } else {
    appendf(out, "arp op %u", op);
  }
}

}  // namespace harrier
