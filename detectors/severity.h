// The seed's score: severity = (criticality + lethality) - (network
// countermeasures + system countermeasures), each term 1..5, result -8..+8,
// mapped onto the usual 1 (high) / 2 (medium) / 3 (low) alert severity.
#pragma once

#include <cstdint>

namespace harrier {

struct Score {
  int8_t criticality = 0;
  int8_t lethality = 0;
  int8_t network_cm = 0;
  int8_t system_cm = 0;

  int value() const { return (criticality + lethality) - (network_cm + system_cm); }
  // >= 4 high, 1..3 medium, <= 0 low: a probe the defences already stop is
  // worth reading but not worth waking someone for.
  int alert_severity() const {
    const int v = value();
    return v >= 4 ? 1 : v >= 1 ? 2 : 3;
  }
};

}  // namespace harrier
