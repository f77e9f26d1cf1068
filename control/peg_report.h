// Counter tables (dataplane/pegs.h) as each output shows them: the same
// rows, read once, for `stats`, Prometheus and the end-of-run report, so a
// component's new counter appears in all three without an edit here.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "dataplane/pegs.h"

namespace harrier {

// {"<component>": {"<counter>": value, ...}, ...}
nlohmann::ordered_json pegs_json(const std::vector<PegValues>& tables);

// Prometheus text: one family per counter name, `<prefix>_<name>` (with
// `_total` for counts since the start), a sample per component labelled
// `<label>="<component>"`.
std::string pegs_prometheus(const std::vector<PegValues>& tables, std::string_view prefix,
                            std::string_view label);

// One line per component that counted something: "<component>: name n, ..."
// (counts since the start; levels such as a table's fill are for stats).
std::vector<std::string> pegs_lines(const std::vector<PegValues>& tables);

}  // namespace harrier
