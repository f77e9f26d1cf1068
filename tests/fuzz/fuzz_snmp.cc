// A UDP payload to port 161: SNMP's BER, lengths and all.
#include <cstddef>
#include <cstdint>

#include "detectors/protocols/snmp.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace harrier;
  if (size > 65535) return 0;
  snmp::Message m;
  if (snmp::parse(data, uint32_t(size), m)) (void)snmp::pdu_name(m.pdu);
  return 0;
}
