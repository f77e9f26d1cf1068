// EAL start-up and shutdown. EAL keeps process-wide state: start it once.
#pragma once

#include <string>
#include <vector>

namespace harrier {

// Starts EAL with `args` (without argv[0]). Returns false with *error saying
// why (rte_errno text and the arguments that were used).
bool eal_start(const std::vector<std::string>& args, std::string* error);
void eal_stop();

}  // namespace harrier
