#include "capture/packet_filter.h"

#include <pcap/pcap.h>
#include <rte_bpf.h>
#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>

namespace harrier {

namespace {
// DPDK's converter (lib/bpf/bpf_convert.c, 22.11 and still upstream) maps a
// classic indirect load `ld [x + k]` to an eBPF LD_IND whose index register
// is R0 (classic A) instead of R7 (where it keeps classic X): every filter
// that reads past a variable-length IP header (icmp[...], tcp[...],
// udp[...]) then reads the wrong byte. Pointing the load at R7 is right,
// and DPDK's interpreter runs it correctly; its x86 JIT does not (it only
// handles LD_IND index registers R0-R6, and crashed on every rewrite tried),
// so such filters run in the interpreter and the rest JIT-compiled.
// Returns whether the program has indirect loads.
bool fix_indirect_loads(rte_bpf_prm* prm) {
  // The instructions sit in the buffer rte_bpf_convert allocated for us.
  auto* ins = const_cast<ebpf_insn*>(prm->ins);
  bool any = false;
  for (uint32_t i = 0; i < prm->nb_ins; ++i)
    if (BPF_CLASS(ins[i].code) == BPF_LD && BPF_MODE(ins[i].code) == BPF_IND) {
      ins[i].src_reg = EBPF_REG_7;
      any = true;
    }
  return any;
}
}  // namespace

std::unique_ptr<PacketFilter> PacketFilter::compile(const std::string& expression, uint32_t snaplen,
                                                    std::string* error) {
  std::unique_ptr<PacketFilter> f(new PacketFilter());
  f->expression_ = expression;
  if (expression.find_first_not_of(" \t\r\n") == std::string::npos) return f;

  // A dead handle: libpcap compiles for the link type without a device, as
  // tcpdump -r does for a file of Ethernet frames.
  pcap_t* pcap =
      pcap_open_dead_with_tstamp_precision(DLT_EN10MB, int(snaplen), PCAP_TSTAMP_PRECISION_NANO);
  if (!pcap) {
    *error = "capture filter: libpcap cannot open a compiler handle";
    return nullptr;
  }
  bpf_program cbpf{};
  if (pcap_compile(pcap, &cbpf, expression.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
    *error = "capture filter '" + expression + "': " + pcap_geterr(pcap);
    pcap_close(pcap);
    return nullptr;
  }
  rte_bpf_prm* prm = rte_bpf_convert(&cbpf);
  pcap_freecode(&cbpf);
  pcap_close(pcap);
  if (!prm) {
    *error = "capture filter '" + expression +
             "': DPDK cannot convert its BPF program: " + rte_strerror(rte_errno);
    return nullptr;
  }
  const bool indirect = fix_indirect_loads(prm);
  f->instructions_ = prm->nb_ins;
  f->bpf_ = rte_bpf_load(prm);  // keeps its own copy of the instructions
  rte_free(prm);
  if (!f->bpf_) {
    *error = "capture filter '" + expression +
             "': DPDK's BPF verifier refuses the program: " + rte_strerror(rte_errno);
    return nullptr;
  }
  rte_bpf_jit jit{};
  if (!indirect && rte_bpf_get_jit(f->bpf_, &jit) == 0 && jit.func) f->jit_ = jit.func;
  return f;
}

PacketFilter::~PacketFilter() {
  if (bpf_) rte_bpf_destroy(bpf_);
}

bool PacketFilter::matches(rte_mbuf* m) const noexcept {
  if (!bpf_) return true;
  return (jit_ ? jit_(m) : rte_bpf_exec(bpf_, m)) != 0;
}

}  // namespace harrier
