// One control request line, any bytes: always one JSON reply line.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "control/control_server.h"

namespace {
harrier::ControlServer* server() {
  static std::unique_ptr<harrier::ControlServer> s = [] {
    std::string dir = "/tmp/harrier-fuzz-control-" + std::to_string(getpid());
    std::string cmd = "mkdir -p " + dir;
    if (std::system(cmd.c_str()) != 0) std::abort();
    std::map<std::string, harrier::ControlServer::Handler> h;
    h["status"] = [](const nlohmann::json& r) {
      // As the real handlers read numbers: whole numbers only, checked
      // before any conversion (a float beyond int's range is undefined).
      const auto n = r.find("n");
      if (n != r.end() && !n->is_number_integer())
        throw std::invalid_argument("n must be a whole number");
      return nlohmann::ordered_json{{"n", n == r.end() ? 0 : n->get<int64_t>()},
                                    {"s", r.value("s", std::string())}};
    };
    h["detectors"] = [](const nlohmann::json& r) -> nlohmann::ordered_json {
      if (r.contains("id") && !r["id"].is_string())
        throw std::invalid_argument("id must be a string");
      return {{"id", r.value("id", std::string())}};
    };
    std::string err;
    auto p = harrier::ControlServer::start(dir + "/c.sock", "", std::move(h), &err);
    if (!p) std::abort();
    return p;
  }();
  return s.get();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 1 << 16) return 0;
  const std::string line(reinterpret_cast<const char*>(data), size);
  const std::string reply = server()->answer(line);
  if (reply.empty() || reply.back() != '\n' || reply.find('\n') != reply.size() - 1) std::abort();
  const auto j = nlohmann::json::parse(reply, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("ok")) std::abort();
  return 0;
}
