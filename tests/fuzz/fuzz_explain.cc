// `harrier explain` on one EVE line: an alert it cannot explain is skipped
// or refused with an exception the command reports, never a crash.
#include <cstdint>
#include <exception>
#include <string>

#include <nlohmann/json.hpp>

#include "detectors/explain.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 1 << 16) return 0;
  const auto j = nlohmann::ordered_json::parse(data, data + size, nullptr, false);
  if (j.is_discarded()) return 0;
  try {
    (void)harrier::explain_alert(j);
  } catch (const std::exception&) {
  }
  return 0;
}
