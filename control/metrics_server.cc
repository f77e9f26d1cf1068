#include "control/metrics_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <vector>

#include <spdlog/spdlog.h>

namespace harrier {

bool parse_listen_address(const std::string& text, sockaddr_storage* addr, socklen_t* len,
                          std::string* error) {
  std::memset(addr, 0, sizeof *addr);
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon + 1 == text.size()) {
    *error = "must be ADDRESS:PORT, e.g. 127.0.0.1:9464 or [::1]:9464";
    return false;
  }
  std::string host = text.substr(0, colon);
  const std::string port_text = text.substr(colon + 1);
  char* end = nullptr;
  const long port = std::strtol(port_text.c_str(), &end, 10);
  if (*end != '\0' || port < 1 || port > 65535) {
    *error = "port '" + port_text + "' is not 1..65535";
    return false;
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    auto* a6 = reinterpret_cast<sockaddr_in6*>(addr);
    if (inet_pton(AF_INET6, host.c_str(), &a6->sin6_addr) != 1) {
      *error = "'" + host + "' is not an IPv6 address";
      return false;
    }
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(uint16_t(port));
    *len = sizeof *a6;
    return true;
  }
  auto* a4 = reinterpret_cast<sockaddr_in*>(addr);
  if (inet_pton(AF_INET, host.c_str(), &a4->sin_addr) != 1) {
    *error = "'" + host + "' is not an IPv4 address (IPv6 goes in brackets: [::1]:9464)";
    return false;
  }
  a4->sin_family = AF_INET;
  a4->sin_port = htons(uint16_t(port));
  *len = sizeof *a4;
  return true;
}

std::unique_ptr<MetricsServer> MetricsServer::start(const std::string& listen, Render render,
                                                    std::string* error) {
  sockaddr_storage addr;
  socklen_t len = 0;
  if (!parse_listen_address(listen, &addr, &len, error)) {
    *error = "control.metrics '" + listen + "': " + *error;
    return nullptr;
  }
  std::unique_ptr<MetricsServer> s(new MetricsServer());
  s->render_ = std::move(render);
  s->listen_fd_ = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  const int one = 1;
  if (s->listen_fd_ < 0 ||
      setsockopt(s->listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      bind(s->listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      ::listen(s->listen_fd_, 16) != 0) {
    *error = "control.metrics '" + listen + "': cannot listen: " + std::strerror(errno);
    return nullptr;
  }
  if (pipe2(s->wake_, O_CLOEXEC) != 0) {
    *error = std::string("metrics: pipe: ") + std::strerror(errno);
    return nullptr;
  }
  s->thread_ = std::thread([p = s.get()] { p->loop(); });
  return s;
}

MetricsServer::~MetricsServer() {
  if (thread_.joinable()) {
    [[maybe_unused]] const ssize_t w = write(wake_[1], "x", 1);
    thread_.join();
  }
  for (int fd : {listen_fd_, wake_[0], wake_[1]})
    if (fd >= 0) close(fd);
}

std::string MetricsServer::respond(const std::string& request) const {
  auto reply = [](const char* status, const std::string& type, const std::string& body) {
    return std::string("HTTP/1.1 ") + status + "\r\nContent-Type: " + type +
           "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" +
           body;
  };
  const std::string line = request.substr(0, request.find("\r\n"));
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string::npos || line.compare(sp2 + 1, 5, "HTTP/") != 0)
    return reply("400 Bad Request", "text/plain", "not an HTTP request\n");
  const std::string method = line.substr(0, sp1);
  std::string path = line.substr(sp1 + 1, sp2 - sp1 - 1);
  path = path.substr(0, path.find('?'));
  if (path != "/metrics") return reply("404 Not Found", "text/plain", "try /metrics\n");
  if (method != "GET" && method != "HEAD")
    return reply("405 Method Not Allowed", "text/plain", "GET /metrics\n");
  std::string body;
  try {
    body = render_();
  } catch (const std::exception& e) {
    return reply("500 Internal Server Error", "text/plain", std::string(e.what()) + "\n");
  }
  std::string out = reply("200 OK", "text/plain; version=0.0.4; charset=utf-8", body);
  if (method == "HEAD") out.resize(out.find("\r\n\r\n") + 4);
  return out;
}

void MetricsServer::loop() {
  using Clock = std::chrono::steady_clock;
  struct Client {
    int fd;
    std::string in, out;
    Clock::time_point since;
  };
  std::vector<Client> clients;
  for (;;) {
    std::vector<pollfd> fds{{wake_[0], POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    for (const Client& c : clients)
      fds.push_back({c.fd, short(c.out.empty() ? POLLIN : POLLOUT), 0});
    if (poll(fds.data(), fds.size(), 1000) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("metrics endpoint: poll failed: {}", std::strerror(errno));
      break;
    }
    if (fds[0].revents) break;
    const size_t polled = clients.size();
    std::vector<bool> done(polled, false);
    const Clock::time_point now = Clock::now();
    for (size_t i = 0; i < polled; ++i) {
      Client& c = clients[i];
      const short ev = fds[i + 2].revents;
      // A client gets 2 s to ask and be answered: idle ones cannot hold
      // the endpoint against a scraper.
      if (now - c.since > std::chrono::seconds(2)) {
        done[i] = true;
        continue;
      }
      if (c.out.empty() && (ev & POLLIN)) {
        char buf[2048];
        const ssize_t n = read(c.fd, buf, sizeof buf);
        if (n <= 0) {
          done[i] = true;
          continue;
        }
        c.in.append(buf, size_t(n));
        if (c.in.find("\r\n\r\n") != std::string::npos)
          c.out = respond(c.in);
        else if (c.in.size() > kMaxRequest)
          c.out = "HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n";
      } else if (ev & (POLLHUP | POLLERR)) {
        done[i] = true;
        continue;
      }
      if (!c.out.empty() && (ev & POLLOUT)) {
        const ssize_t w = send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
        if (w > 0) c.out.erase(0, size_t(w));
        if (w < 0 && errno != EAGAIN) done[i] = true;
        if (c.out.empty()) done[i] = true;  // one response per connection
      }
    }
    for (size_t i = polled; i-- > 0;)
      if (done[i]) {
        close(clients[i].fd);
        clients.erase(clients.begin() + long(i));
      }
    if (fds[1].revents & POLLIN) {
      const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd >= 0 && clients.size() >= size_t(kMaxClients)) {
        // Full: the oldest connection that has not asked yet makes room.
        size_t oldest = clients.size();
        for (size_t k = 0; k < clients.size(); ++k)
          if (clients[k].out.empty() &&
              (oldest == clients.size() || clients[k].since < clients[oldest].since))
            oldest = k;
        if (oldest == clients.size()) {
          close(fd);
          continue;
        }
        close(clients[oldest].fd);
        clients.erase(clients.begin() + long(oldest));
      }
      if (fd >= 0) clients.push_back({fd, {}, {}, now});
    }
  }
  for (const Client& c : clients)
    close(c.fd);
}

}  // namespace harrier
