// The control socket of `harrier run`: a UNIX stream socket that takes one
// JSON object per line ({"command": "status", ...}) and answers one per
// line ({"ok": true, ...} or {"ok": false, "error": "..."}). One thread,
// poll()-driven, off the packet path: a malformed, oversized or slow client
// gets an error or is dropped and never touches the dataplane. The socket
// is created 0660 (owner and the configured group only); a second instance
// on a live socket is refused.
#pragma once

#include <atomic>
#include <chrono>
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
  // sampling), between requests. A client silent for `idle_timeout` is told
  // so and closed; so is one that connects while kMaxClients are.
  static std::unique_ptr<ControlServer> start(
      const std::string& path, const std::string& group, std::map<std::string, Handler> handlers,
      std::string* error, std::function<void()> tick = {},
      std::chrono::milliseconds idle_timeout = std::chrono::seconds(30));
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // True when a harrier answers on `path` (checked before anything starts),
  // and what to tell the user then.
  static bool in_use(const std::string& path);
  static std::string in_use_error(const std::string& path);

  void stop();
  const std::string& path() const { return path_; }

  // One request line (any bytes) to its reply line; never throws (public
  // for tests).
  std::string answer(const std::string& line) const noexcept;

  // Clients closed for idling, and refused because every slot was taken.
  uint64_t idle_closed() const { return idle_closed_.load(std::memory_order_relaxed); }
  uint64_t refused_busy() const { return refused_busy_.load(std::memory_order_relaxed); }

  static constexpr size_t kMaxLine = 64 * 1024;
  static constexpr int kMaxClients = 16;

 private:
  ControlServer() = default;
  void loop();
  nlohmann::ordered_json answer_json(const std::string& line) const;
  static void say_and_close(int fd, const std::string& why);

  std::string path_;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};  // stop() writes here to end poll()
  std::map<std::string, Handler> handlers_;
  std::function<void()> tick_;
  std::chrono::milliseconds idle_timeout_{30000};
  std::atomic<uint64_t> idle_closed_{0}, refused_busy_{0};
  std::thread thread_;
};

}  // namespace harrier
