// A payload to the portmapper port, any bytes: the ONC RPC call header
// portmap-probe reads, over UDP and over TCP (record mark first).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "detectors/protocols/rpc.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 65535) return 0;
  // A copy exactly as long as the payload: ASan sees any read past it.
  const std::vector<uint8_t> p(data, data + size);
  for (bool tcp : {false, true}) {
    const uint32_t proc = harrier::rpc::portmap_call_proc(p.data(), uint32_t(p.size()), tcp);
    if (proc) (void)harrier::rpc::portmap_proc_name(proc);
  }
  return 0;
}
