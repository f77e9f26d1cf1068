// The explicit list of detectors this build knows, in catalog order. No
// static-constructor registration: what runs is what this list names.
#pragma once

#include <span>
#include <string_view>

#include "detectors/detector.h"

namespace harrier {

std::span<const DetectorDescriptor* const> detector_registry();
// Registry index of a catalog id, or -1.
int find_detector(std::string_view id);

}  // namespace harrier
