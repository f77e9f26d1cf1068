// `harrier explain FILE.eve...`: the seed-style write-up of each incident in
// EVE files written by harrier (by default the last, fullest alert of each
// incident; --all for every alert).
#pragma once

#include <string>
#include <vector>

namespace harrier {

struct ExplainOptions {
  std::vector<std::string> files;  // "-" reads stdin
  bool all = false;
  std::string detector;  // only this detector's incidents, when set
};

// Returns the exit status: 0 ok, 1 some lines could not be read (each named
// on stderr with file and line), 2 a file could not be opened.
int run_explain(const ExplainOptions& opts);

}  // namespace harrier
