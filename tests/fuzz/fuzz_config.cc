// A YAML configuration (config file, inventory, detector parameters): a
// clear ConfigError for anything wrong, never a crash.
#include <cstdint>
#include <string>

#include "control/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace harrier;
  if (size > 1 << 16) return 0;
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    Config cfg = load_config("");  // the registry's detectors and the built-in defaults
    apply_config_yaml(cfg, text, "fuzz.yaml");
    Config next = cfg;
    (void)restart_only_changes(cfg, next);
  } catch (const ConfigError&) {
  }
  return 0;
}
