#include "detectors/protocols/rpc.h"

namespace harrier::rpc {

// xid, msg_type = 0 (call), rpcvers = 2, prog, vers, proc: 24 bytes.
uint32_t portmap_call_proc(const uint8_t* p, uint32_t len, bool tcp) noexcept {
  if (tcp) {
    if (len < 4) return 0;
    p += 4, len -= 4;
  }
  if (len < 24) return 0;
  auto rd = [p](int off) {
    return uint32_t(p[off]) << 24 | uint32_t(p[off + 1]) << 16 | uint32_t(p[off + 2]) << 8 |
           p[off + 3];
  };
  if (rd(4) != 0 || rd(8) != 2 || rd(12) != kPortmapProgram) return 0;
  const uint32_t proc = rd(20);
  return proc == UINT32_MAX ? 0 : proc + 1;
}

const char* portmap_proc_name(uint32_t code) noexcept {
  static constexpr const char* kNames[] = {"NULL", "SET", "UNSET", "GETPORT", "DUMP", "CALLIT"};
  return code >= 1 && code <= 6 ? kNames[code - 1] : nullptr;
}

}  // namespace harrier::rpc
