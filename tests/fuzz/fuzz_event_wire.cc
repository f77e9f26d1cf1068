// A blob of host events as a correlator reads it off a stream
// (detectors/host_event_wire.h): refused whole with an error and `out` left
// as it was, or decoded into events that re-encode into a blob decoding to
// the very same events and re-encoding to the very same bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "detectors/host_event_wire.h"
#include "detectors/registry.h"

namespace {

using namespace harrier;

bool same(const HostEvent& a, const HostEvent& b) {
  return a.ts == b.ts && a.order == b.order && a.src == b.src && a.dst == b.dst &&
         a.sport == b.sport && a.dport == b.dport && a.tcp_flags == b.tcp_flags &&
         a.proto == b.proto && a.kind == b.kind && a.flags == b.flags && a.code == b.code &&
         a.ttl == b.ttl && a.key_slot == b.key_slot && a.detector == b.detector &&
         a.ip_id == b.ip_id && a.seq == b.seq &&
         std::memcmp(a.detail.bytes, b.detail.bytes, a.detail.kBytes) == 0;
}

std::string encode(const std::vector<HostEvent>& events, size_t from) {
  std::string blob;
  for (size_t i = from; i < events.size(); ++i)
    append_wire_event(blob, events[i]);
  return blob;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const uint16_t n_detectors = uint16_t(detector_registry().size());
  const std::string_view blob(reinterpret_cast<const char*>(data), size);
  HostEvent held;
  held.order = 42;
  held.seq = 7;
  std::vector<HostEvent> first{held};
  std::string error;
  if (!decode_wire_events(blob, n_detectors, first, &error)) {
    if (first.size() != 1 || !same(first[0], held) || error.empty()) abort();
    return 0;
  }
  // A blob of the version byte alone holds no event (and re-encoding none
  // makes no blob).
  if (first.size() == 1) return 0;
  const std::string again = encode(first, 1);
  // Re-encoding only drops all-zero details.
  if (again.size() > size) abort();
  std::vector<HostEvent> second;
  if (!decode_wire_events(again, n_detectors, second, &error)) abort();
  if (second.size() != first.size() - 1) abort();
  for (size_t i = 0; i < second.size(); ++i)
    if (!same(first[i + 1], second[i]) || second[i].seq != i) abort();
  if (encode(second, 0) != again) abort();
  return 0;
}
