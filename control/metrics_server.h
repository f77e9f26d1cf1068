// The Prometheus endpoint of `harrier run` (control.metrics, off unless
// configured): plain HTTP/1.1, GET /metrics only, one response per
// connection, on its own thread with poll(). It serves LiveStats's text
// exposition; a slow or malformed client is answered or dropped and never
// touches the dataplane.
#pragma once

#include <sys/socket.h>

#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace harrier {

// "127.0.0.1:9464", "[::1]:9464", "0.0.0.0:9464" -> address; false and
// *error (what is wrong with it) otherwise.
bool parse_listen_address(const std::string& text, sockaddr_storage* addr, socklen_t* len,
                          std::string* error);

class MetricsServer {
 public:
  using Render = std::function<std::string()>;
  static std::unique_ptr<MetricsServer> start(const std::string& listen, Render render,
                                              std::string* error);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  static constexpr size_t kMaxRequest = 8192;
  static constexpr int kMaxClients = 16;

 private:
  MetricsServer() = default;
  void loop();
  std::string respond(const std::string& request) const;

  Render render_;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  std::thread thread_;
};

}  // namespace harrier
