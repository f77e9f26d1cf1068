// `harrier explain FILE.eve...`: the seed-style write-up of each incident in
// EVE files written by harrier (by default the last, fullest alert of each
// incident; --all for every alert).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace harrier {

struct ExplainOptions {
  std::vector<std::string> files;  // "-" reads stdin
  bool all = false;
  std::string detector;  // only this detector's incidents, when set
};

// Returns the exit status: 0 ok, 1 some lines could not be read (each named
// on stderr with file and line), 2 a file could not be opened.
int run_explain(const ExplainOptions& opts);

// A member of an EVE record as text: a string as it is, anything else as
// JSON; "" when absent.
std::string eve_text(const nlohmann::ordered_json& j, const char* key);

// The alerts of EVE files as `explain` picks them (the last of each
// incident, or every one with opts.all; only opts.detector's when set), in
// order of first appearance; `folded` counts the folded records seen. The
// status as run_explain's (what could not be read is named on stderr).
int read_eve_alerts(const ExplainOptions& opts, std::vector<nlohmann::ordered_json>* out,
                    uint64_t* folded = nullptr);

}  // namespace harrier
