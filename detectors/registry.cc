#include "detectors/registry.h"

namespace harrier {

extern const DetectorDescriptor kPortmapProbe;
extern const DetectorDescriptor kTrojanPortProbe;
extern const DetectorDescriptor kSynRetryAnomaly;
extern const DetectorDescriptor kRstBackscatter;
extern const DetectorDescriptor kHorizontalScan;
extern const DetectorDescriptor kIcmpUnreachBackscatter;
extern const DetectorDescriptor kIcmpTtlBackscatter;
extern const DetectorDescriptor kFlagAnomaly;
extern const DetectorDescriptor kSnmpPublic;

namespace {
const DetectorDescriptor* const kRegistry[] = {
    // Catalog order (docs: ../shared/spec/detectors.md).
    &kPortmapProbe,       &kTrojanPortProbe, &kSynRetryAnomaly,
    &kRstBackscatter,     &kHorizontalScan,  &kIcmpUnreachBackscatter,
    &kIcmpTtlBackscatter, &kFlagAnomaly,     &kSnmpPublic,
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
