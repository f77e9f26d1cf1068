// ONC RPC (RFC 5531) call header, read just far enough to tell a portmapper
// call and its procedure. Hostile input: every field is bounds-checked.
#pragma once

#include <cstdint>

namespace harrier::rpc {

inline constexpr uint32_t kPortmapProgram = 100000;

// The procedure of a portmapper call in `payload` (TCP: after its 4-byte
// record mark), plus one; 0 when the payload is not a portmapper call.
uint32_t portmap_call_proc(const uint8_t* payload, uint32_t len, bool tcp) noexcept;

// The name of a portmapper procedure as portmap_call_proc returns it
// (proc + 1), or nullptr for one that RFC 1833's version 2 does not name.
const char* portmap_proc_name(uint32_t code) noexcept;

}  // namespace harrier::rpc
