// `--print`: one line per packet in the classic tcpdump layout the seed's
// traces use, so an analyst reads harrier's output as they read tcpdump's:
//
//   16:07:40.894521 208.61.141.146.netbios-ns > 10.0.0.1.netbios-ns:
//   >>> NBT UDP PACKET(137): QUERY; REQUEST; BROADCAST
//   20:38:58.076211 207.8.127.169.1023 > 10.0.0.1.sunrpc: udp 84
//   14:53:18.706511 131.215.103.94.1189 > 10.0.0.1.finger: S 784278959:784278959(0) win 32120
//       <mss 1460,sackOK,timestamp 418650 0,nop,wscale 0> (DF)      (one line)
//   03:28:25.879121 63.253.248.251 > 10.0.0.1: icmp: echo request
//
// TCP sequence numbers are relative after a conversation's first ACK, as
// tcpdump prints them (absolute with `absolute_seq`); ports are service
// names from /etc/services unless `numeric`; addresses are never resolved.
// With `hex`, the bytes from the network header follow in the seed's
// "0x0000  4500 002f ...  E../" layout. Runs on the one emit thread.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "dataplane/packet.h"

namespace harrier {

struct PrintOptions {
  bool numeric = false;       // port numbers, not service names (tcpdump -n)
  bool hex = false;           // hex and ASCII of each packet (tcpdump -X)
  bool absolute_seq = false;  // tcpdump -S
};

class PacketPrinter {
 public:
  explicit PacketPrinter(const PrintOptions& opts);

  // Appends the line(s) for one packet: `data` holds `caplen` bytes of the
  // frame as captured; `v` and `err` are what decode() made of them.
  void print(const PacketView& v, DecodeError err, const uint8_t* data, uint32_t caplen,
             uint64_t ts_ns, std::string& out);

 private:
  struct SeqBase {
    uint32_t seq, ack;
  };
  void print_tcp(const PacketView& v, uint32_t l4_len, std::string& out);
  void print_udp(const PacketView& v, std::string& out);
  void print_icmp(const PacketView& v, std::string& out);
  void print_arp(const uint8_t* p, uint32_t len, std::string& out);
  const char* port_name(uint16_t port, uint8_t proto) const;
  void endpoint(const IpAddr& a, uint16_t port, uint8_t proto, bool with_port, std::string& out);

  PrintOptions opts_;
  // Service names by port, for TCP [0] and UDP [1], as /etc/services has them.
  std::array<std::vector<std::string>, 2> services_;
  std::unordered_map<std::string, SeqBase> conversations_;  // relative sequence numbers
};

}  // namespace harrier
