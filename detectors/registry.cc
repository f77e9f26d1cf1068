#include "detectors/registry.h"

namespace harrier {

extern const DetectorDescriptor kPortmapProbe;
extern const DetectorDescriptor kSynRetryAnomaly;
extern const DetectorDescriptor kHorizontalScan;

namespace {
const DetectorDescriptor* const kRegistry[] = {
    &kPortmapProbe,
    &kSynRetryAnomaly,
    &kHorizontalScan,
};
}  // namespace

std::span<const DetectorDescriptor* const> detector_registry() {
  return kRegistry;
}

int find_detector(std::string_view id) {
  for (size_t i = 0; i < std::size(kRegistry); ++i)
    if (kRegistry[i]->id == id) return int(i);
  return -1;
}

}  // namespace harrier
