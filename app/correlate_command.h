// `harrier correlate`: the host-behaviour detectors over the host events
// that sensors publish to Redis (control/correlator.h, docs/scale-out.md).
#pragma once

#include "control/config.h"

namespace harrier {

struct CorrelateOptions {
  bool drain = false;  // stop once every sensor ended and everything is read
  bool quiet = false;
};

// Returns the process exit status (0 ok, 1 runtime failure, 2 bad configuration).
int run_correlate(const Config& cfg, const CorrelateOptions& opts);

}  // namespace harrier
