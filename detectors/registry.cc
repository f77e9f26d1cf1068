#include "detectors/registry.h"

namespace harrier {

extern const DetectorDescriptor kNetbiosSweep;
extern const DetectorDescriptor kPortmapProbe;
extern const DetectorDescriptor kTrojanPortProbe;
extern const DetectorDescriptor kSynRetryAnomaly;
extern const DetectorDescriptor kSmtpRelayProbe;
extern const DetectorDescriptor kRstBackscatter;
extern const DetectorDescriptor kHorizontalScan;
extern const DetectorDescriptor kPingThenConnect;
extern const DetectorDescriptor kIcmpUnreachBackscatter;
extern const DetectorDescriptor kIcmpTtlBackscatter;
extern const DetectorDescriptor kOsFingerprint;
extern const DetectorDescriptor kVerticalScan;
extern const DetectorDescriptor kSlowScan;
extern const DetectorDescriptor kFlagAnomaly;
extern const DetectorDescriptor kSnmpPublic;
extern const DetectorDescriptor kNetbiosWildcard;

namespace {
const DetectorDescriptor* const kRegistry[] = {
    // Catalog order (../shared/spec/detectors.md).
    // clang-format off
    &kNetbiosSweep,
    &kPortmapProbe,
    &kTrojanPortProbe,
    &kSynRetryAnomaly,
    &kSmtpRelayProbe,
    &kRstBackscatter,
    &kHorizontalScan,
    &kPingThenConnect,
    &kIcmpUnreachBackscatter,
    &kIcmpTtlBackscatter,
    &kOsFingerprint,
    &kVerticalScan,
    &kSlowScan,
    &kFlagAnomaly,
    &kSnmpPublic,
    &kNetbiosWildcard,
    // clang-format on
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
