#include "control/control_server.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <vector>

#include <spdlog/spdlog.h>

namespace harrier {

namespace {
bool fill_addr(const std::string& path, sockaddr_un* a) {
  std::memset(a, 0, sizeof *a);
  a->sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof a->sun_path) return false;
  std::memcpy(a->sun_path, path.data(), path.size());
  return true;
}

nlohmann::ordered_json error_reply(const std::string& msg) {
  return {{"ok", false}, {"error", msg}};
}

// Every reply is dumped with invalid UTF-8 replaced: a parser's message
// quotes the request's raw bytes, and a throwing dump() was the end of harrier.
std::string reply_line(const nlohmann::ordered_json& reply) {
  return reply.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}
}  // namespace

std::unique_ptr<ControlServer> ControlServer::start(const std::string& path,
                                                    const std::string& group,
                                                    std::map<std::string, Handler> handlers,
                                                    std::string* error, std::function<void()> tick,
                                                    std::chrono::milliseconds idle_timeout) {
  std::unique_ptr<ControlServer> s(new ControlServer());
  s->path_ = path;
  s->idle_timeout_ = idle_timeout;
  s->handlers_ = std::move(handlers);
  s->tick_ = std::move(tick);
  sockaddr_un addr;
  if (!fill_addr(path, &addr)) {
    *error = "control socket '" + path + "': path empty or longer than " +
             std::to_string(sizeof addr.sun_path - 1) + " bytes";
    return nullptr;
  }
  gid_t gid = gid_t(-1);
  if (!group.empty()) {
    const struct group* g = getgrnam(group.c_str());
    if (!g) {
      *error = "control.group '" + group + "': no such group";
      return nullptr;
    }
    gid = g->gr_gid;
  }
  // A socket that answers belongs to a running harrier: refuse, never steal it.
  if (in_use(path)) {
    *error = in_use_error(path);
    return nullptr;
  }
  // The socket's directory (/run/harrier by default) is made if missing.
  const size_t slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    const std::string dir = path.substr(0, slash);
    struct stat ds {};
    if (stat(dir.c_str(), &ds) != 0 && mkdir(dir.c_str(), 0750) != 0) {
      *error = dir + ": cannot create the control socket's directory: " + std::strerror(errno);
      return nullptr;
    }
  }
  struct stat st {};
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      *error = path + ": exists and is not a socket; refusing to replace it";
      return nullptr;
    }
    unlink(path.c_str());  // stale: its harrier is gone
  }
  s->listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s->listen_fd_ < 0) {
    *error = path + ": cannot create the control socket: " + std::strerror(errno);
    return nullptr;
  }
  // The socket is bound inside a private directory (0700), given its group
  // and mode 0660 there, and only then renamed into place: nobody else can
  // connect before its mode is final, and the process umask (shared with
  // threads already running) is never touched.
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash ? slash : 1);
  std::string staging = dir + "/.harrier-control-XXXXXX";
  if (!mkdtemp(staging.data())) {
    *error =
        dir + ": cannot create the control socket (staging directory): " + std::strerror(errno);
    return nullptr;
  }
  const std::string staged = staging + "/s";
  sockaddr_un staged_addr;
  if (!fill_addr(staged, &staged_addr)) {
    rmdir(staging.c_str());
    *error = "control socket '" + path +
             "': its directory's path is too long to create the "
             "socket safely there (" +
             std::to_string(sizeof addr.sun_path - 1 - (staged.size() - dir.size())) +
             " bytes at most)";
    return nullptr;
  }
  auto unstage = [&] {
    unlink(staged.c_str());
    rmdir(staging.c_str());
  };
  if (bind(s->listen_fd_, reinterpret_cast<sockaddr*>(&staged_addr), sizeof staged_addr) != 0) {
    *error = path + ": cannot create the control socket: " + std::strerror(errno);
    unstage();
    return nullptr;
  }
  if (gid != gid_t(-1) && chown(staged.c_str(), uid_t(-1), gid) != 0) {
    *error =
        path + ": cannot give the control socket to group '" + group + "': " + std::strerror(errno);
    unstage();
    return nullptr;
  }
  if (chmod(staged.c_str(), 0660) != 0 || rename(staged.c_str(), path.c_str()) != 0) {
    *error = path + ": cannot put the control socket in place: " + std::strerror(errno);
    unstage();
    return nullptr;
  }
  rmdir(staging.c_str());
  if (listen(s->listen_fd_, 16) != 0 || pipe2(s->wake_, O_CLOEXEC | O_NONBLOCK) != 0) {
    *error = path + ": cannot listen: " + std::strerror(errno);
    unlink(path.c_str());
    return nullptr;
  }
  s->thread_ = std::thread([p = s.get()] { p->loop(); });
  return s;
}

bool ControlServer::in_use(const std::string& path) {
  sockaddr_un addr;
  if (!fill_addr(path, &addr)) return false;
  const int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const bool answered =
      probe >= 0 && connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  if (probe >= 0) close(probe);
  return answered;
}

std::string ControlServer::in_use_error(const std::string& path) {
  return path +
         ": another harrier is running on this control socket (stop it, or give this one "
         "another control.socket)";
}

ControlServer::~ControlServer() {
  stop();
  if (listen_fd_ >= 0) {
    close(listen_fd_);
    unlink(path_.c_str());
  }
  for (int fd : wake_)
    if (fd >= 0) close(fd);
}

void ControlServer::stop() {
  if (!thread_.joinable()) return;
  const char c = 1;
  [[maybe_unused]] const ssize_t w = write(wake_[1], &c, 1);
  thread_.join();
}

std::string ControlServer::answer(const std::string& line) const noexcept {
  try {
    return reply_line(answer_json(line));
  } catch (...) {
    // Only memory exhaustion gets here; the request is refused, not harrier.
    return "{\"ok\":false,\"error\":\"internal error answering the request\"}\n";
  }
}

nlohmann::ordered_json ControlServer::answer_json(const std::string& line) const {
  nlohmann::json req;
  try {
    req = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    // parse_error, and out_of_range for a number no double holds (1e999999).
    return error_reply(std::string("request is not JSON: ") + e.what());
  }
  if (!req.is_object() || !req.contains("command") || !req["command"].is_string())
    return error_reply("request must be an object with a string \"command\"");
  const std::string cmd = req["command"].get<std::string>();
  const auto it = handlers_.find(cmd);
  if (it == handlers_.end()) {
    std::string known;
    for (const auto& [name, h] : handlers_)
      known += (known.empty() ? "" : ", ") + name;
    return error_reply("unknown command '" + cmd + "' (known: " + known + ")");
  }
  nlohmann::ordered_json reply;
  try {
    const nlohmann::ordered_json fields = it->second(req);
    reply = {{"ok", true}};
    for (const auto& [k, v] : fields.items())
      reply[k] = v;
  } catch (const std::invalid_argument& e) {
    reply = error_reply(cmd + ": " + e.what());
  } catch (const nlohmann::json::exception& e) {
    reply = error_reply(cmd + ": bad argument: " + e.what());
  } catch (const std::exception& e) {
    // Whatever else a handler meets is the reply, never the control thread's end.
    reply = error_reply(cmd + ": " + e.what());
  }
  return reply;
}

void ControlServer::loop() {
  using Clock = std::chrono::steady_clock;
  struct Client {
    int fd;
    std::string in, out;
    Clock::time_point last_heard;  // the last byte read, or the last reply sent whole
  };
  std::vector<Client> clients;
  Clock::time_point next_tick = Clock::now() + std::chrono::seconds(1);
  for (;;) {
    const Clock::time_point now = Clock::now();
    if (tick_ && now >= next_tick) {
      tick_();
      next_tick = now + std::chrono::seconds(1);
    }
    // The nearest deadline: the next tick, or the oldest client's idle limit.
    Clock::time_point wake = tick_ ? next_tick : Clock::time_point::max();
    for (const Client& c : clients)
      wake = std::min(wake, c.last_heard + idle_timeout_);
    int timeout_ms =
        wake == Clock::time_point::max()
            ? -1
            : int(std::max<int64_t>(
                  0, std::chrono::ceil<std::chrono::milliseconds>(wake - now).count()));
    std::vector<pollfd> fds;
    fds.push_back({wake_[0], POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    // A client with a reply still going out is not read: whatever it asks
    // next waits, so one reply (alerts tail can be ~1 MB) bounds its buffer.
    for (const Client& c : clients)
      fds.push_back({c.fd, short(c.out.empty() ? POLLIN : POLLOUT), 0});
    for (const Client& c : clients)
      if (c.out.empty() && c.in.find('\n') != std::string::npos) timeout_ms = 0;
    if (poll(fds.data(), fds.size(), timeout_ms) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("control socket {}: poll failed: {}", path_, std::strerror(errno));
      break;
    }
    if (fds[0].revents) break;
    const Clock::time_point polled_at = Clock::now();
    std::vector<int> closing;
    // Only the clients polled this round: one accepted below has no entry
    // in fds yet (reading one past the end closed it at random).
    const size_t polled = fds.size() - 2;
    for (size_t i = 0; i < polled; ++i) {
      Client& c = clients[i];
      const short ev = fds[i + 2].revents;
      if (ev & POLLIN) {
        char buf[4096];
        const ssize_t n = read(c.fd, buf, sizeof buf);
        if (n <= 0) {
          closing.push_back(int(i));
          continue;
        }
        c.in.append(buf, size_t(n));
        c.last_heard = polled_at;
      } else if (ev & (POLLHUP | POLLERR)) {
        closing.push_back(int(i));
        continue;
      }
      // One request at a time: the next is answered once this reply is out.
      const size_t nl = c.out.empty() ? c.in.find('\n') : std::string::npos;
      if (nl != std::string::npos) {
        c.out = answer(c.in.substr(0, nl));
        c.in.erase(0, nl + 1);
      } else if (c.in.find('\n') == std::string::npos && c.in.size() > kMaxLine) {
        say_and_close(c.fd, "request longer than " + std::to_string(kMaxLine) +
                                " bytes; closing the connection");
        c.fd = -1;
        closing.push_back(int(i));
        continue;
      }
      if (!c.out.empty()) {
        const ssize_t w = send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
        if (w > 0) c.out.erase(0, size_t(w));
        if (w > 0 && c.out.empty()) c.last_heard = polled_at;
        if (w < 0 && errno != EAGAIN) {
          closing.push_back(int(i));
          continue;
        }
      }
      // Silent for too long (a reply stuck in a reader that never reads
      // counts as silence too): its slot goes to someone who will talk.
      if (polled_at - c.last_heard >= idle_timeout_) {
        ++idle_closed_;
        say_and_close(c.fd, "idle for " + std::to_string(idle_timeout_.count() / 1000) +
                                " s (control.idle_timeout); closing the connection");
        c.fd = -1;
        closing.push_back(int(i));
      }
    }
    for (auto it = closing.rbegin(); it != closing.rend(); ++it) {
      if (clients[size_t(*it)].fd >= 0) close(clients[size_t(*it)].fd);
      clients.erase(clients.begin() + *it);
    }
    if (fds[1].revents & POLLIN) {
      for (;;) {
        const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) break;
        if (clients.size() >= size_t(kMaxClients)) {
          ++refused_busy_;
          say_and_close(fd, "too many control clients (" + std::to_string(kMaxClients) +
                                " connected; idle ones are closed after " +
                                std::to_string(idle_timeout_.count() / 1000) + " s)");
        } else {
          clients.push_back({fd, {}, {}, polled_at});
        }
      }
    }
  }
  for (const Client& c : clients)
    close(c.fd);
}

// Sends one error line and closes. The peer may still be writing its request:
// shutting down our side first lets it read the reason instead of a reset.
void ControlServer::say_and_close(int fd, const std::string& why) {
  const std::string line = reply_line(error_reply(why));
  [[maybe_unused]] const ssize_t w = send(fd, line.data(), line.size(), MSG_NOSIGNAL);
  shutdown(fd, SHUT_WR);
  close(fd);
}

}  // namespace harrier
