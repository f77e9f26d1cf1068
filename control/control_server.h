// The control socket of `harrier run`: a UNIX stream socket that takes one
// JSON object per line ({"command": "status", ...}) and answers one per
// line ({"ok": true, ...} or {"ok": false, "error": "..."}). One thread,
// poll()-driven, off the packet path: a malformed, oversized or slow client
// gets an error or is dropped and never touches the dataplane. The socket
// is created 0660 (owner and the configured group only); a second instance
// on a live socket is refused.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

namespace harrier {

class ControlServer {
 public:
  // A command's handler: the request object in, the reply's fields out.
  // Throw std::invalid_argument for a bad argument: it becomes the error.
  using Handler = std::function<nlohmann::ordered_json(const nlohmann::json& request)>;

  // Binds `path` (its directory must exist), owned by `group` when given.
  // `tick`, when given, runs on the server's thread once a second (rate
  // sampling), between requests.
  static std::unique_ptr<ControlServer> start(const std::string& path, const std::string& group,
                                              std::map<std::string, Handler> handlers,
                                              std::string* error, std::function<void()> tick = {});
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // True when a harrier answers on `path` (checked before anything starts),
  // and what to tell the user then.
  static bool in_use(const std::string& path);
  static std::string in_use_error(const std::string& path);

  void stop();
  const std::string& path() const { return path_; }

  // One request line to its reply line (public for tests).
  std::string answer(const std::string& line) const;

  static constexpr size_t kMaxLine = 64 * 1024;
  static constexpr int kMaxClients = 16;

 private:
  ControlServer() = default;
  void loop();

  std::string path_;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};  // stop() writes here to end poll()
  std::map<std::string, Handler> handlers_;
  std::function<void()> tick_;
  std::thread thread_;
};

}  // namespace harrier
