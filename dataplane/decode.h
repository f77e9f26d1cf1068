// Bounds-checked decoding of Ethernet/VLAN/IPv4/IPv6/TCP/UDP/ICMP into a
// PacketView. Pure function of the bytes: no allocation, no global state, safe
// on hostile input (fuzzed in tests/fuzz).
#pragma once

#include <cstdint>

#include "dataplane/packet.h"

namespace harrier {

// Decodes `len` captured bytes of a frame that was `wire_len` long on the wire.
// Returns kNone when every present layer decoded; otherwise the first problem,
// with the view filled as far as decoding got.
DecodeError decode(const uint8_t* data, uint32_t len, uint32_t wire_len, PacketView& out) noexcept;

// Decodes a bare IP packet (no link layer), as quoted in ICMP errors or read
// from raw-IP captures.
DecodeError decode_ip(const uint8_t* data, uint32_t len, PacketView& out) noexcept;

}  // namespace harrier
