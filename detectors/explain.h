// An incident explained the way the seed's analyst wrote up a detect: how it
// was detected, how likely the source is spoofed and why, what the attack is
// and how it works, whether the source targeted one host or swept many, the
// severity with its four terms, and what to do. Built from one EVE alert
// record (the same words whether the alert comes from a live run, `harrier
// read --explain` or `harrier explain FILE.eve`) plus the detector's own
// prose (DetectorDescriptor::explain).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace harrier {

// The explanation of one EVE alert record. Throws std::runtime_error naming
// what is missing when the record is not a harrier alert.
std::string explain_alert(const nlohmann::ordered_json& eve);

}  // namespace harrier
