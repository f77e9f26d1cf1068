// A capture filter in tcpdump syntax, run the way DPDK intends: compiled once
// by libpcap's compiler (so the expression means exactly what it means to
// tcpdump), converted from classic BPF to eBPF by rte_bpf_convert, loaded by
// rte_bpf_load and run as native code from rte_bpf_get_jit on each mbuf.
// Filters that read past a variable-length header (tcp[...], icmp[...]) run
// in DPDK's interpreter instead: see packet_filter.cc for the DPDK bugs.
//
// Immutable after compile(): any number of worker threads may call
// matches() on one filter at once.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

struct rte_bpf;
struct rte_mbuf;

namespace harrier {

class PacketFilter {
 public:
  // Compiles `expression` for Ethernet frames of up to `snaplen` bytes. An
  // empty expression keeps every packet. On a bad expression returns nullptr
  // and sets *error to libpcap's message (or the converter's, for a valid
  // expression DPDK cannot run), prefixed with the expression.
  static std::unique_ptr<PacketFilter> compile(const std::string& expression, uint32_t snaplen,
                                               std::string* error);
  ~PacketFilter();
  PacketFilter(const PacketFilter&) = delete;
  PacketFilter& operator=(const PacketFilter&) = delete;

  // Whether the filter keeps this packet (libpcap's verdict: a non-zero
  // snap length).
  bool matches(rte_mbuf* m) const noexcept;

  const std::string& expression() const { return expression_; }
  bool keeps_everything() const { return bpf_ == nullptr; }
  bool jitted() const { return jit_ != nullptr; }
  uint32_t instructions() const { return instructions_; }  // eBPF, after conversion

 private:
  PacketFilter() = default;

  std::string expression_;
  rte_bpf* bpf_ = nullptr;
  uint64_t (*jit_)(void*) = nullptr;
  uint32_t instructions_ = 0;
};

}  // namespace harrier
