// A UDP payload to port 137, as a query to a home host and as an answer.
#include <cstddef>
#include <cstdint>

#include "detectors/protocols/nbns.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace harrier;
  if (size > 65535) return 0;
  nbns::Message m;
  nbns::parse(data, uint32_t(size), m);
  nbns::classify(data, uint32_t(size), 40000, 137, false, true, m);
  nbns::classify(data, uint32_t(size), 137, 137, true, true, m);
  return 0;
}
