// One frame as bytes: decode, its flow key and hash, and the tcpdump-style
// printer over whatever decode made of it.
#include <cstdint>
#include <string>

#include "capture/packet_printer.h"
#include "dataplane/decode.h"
#include "dataplane/flow_key.h"
#include "dataplane/softrss.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace harrier;
  if (size > 65535) return 0;
  PacketView v;
  // The wire length may exceed what was captured (a snapped frame).
  const uint32_t wire = size >= 2 ? uint32_t(size) + (data[0] & 0x3F) : uint32_t(size);
  const DecodeError err = decode(data, uint32_t(size), wire, v);
  FlowKey k;
  if (err == DecodeError::kNone && !v.quoted.present) packet_flow_key(v, k);
  if (v.quoted.present) quoted_flow_key(v.quoted, k);
  if (v.ip_version) (void)packet_flow_hash(v);
  static PacketPrinter printer{PrintOptions{}};
  std::string out;
  printer.print(v, err, data, uint32_t(size), 1700000000'000000000ull, out);
  return 0;
}
