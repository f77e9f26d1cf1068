// harrierctl: talks to a running `harrier run` over its control socket.
//   harrierctl [--socket PATH] [--json] status|stats|detectors|shutdown
//   harrierctl [--socket PATH] [--json] capture [status|start|stop]
// Exit status: 0 done, 1 harrier refused or could not be reached, 2 usage.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

namespace {

using json = nlohmann::ordered_json;

// Sends one request line, returns the reply line; "" and *error on failure.
std::string ask(const std::string& path, const std::string& request, std::string* error) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    *error = path + ": path too long for a UNIX socket";
    return "";
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const int e = errno;
    if (fd >= 0) close(fd);
    if (e == ENOENT || e == ECONNREFUSED)
      *error = path + ": no harrier is running here (" + std::strerror(e) + ")";
    else if (e == EACCES)
      *error = path + ": permission denied: run as its owner or a member of its group";
    else
      *error = path + ": cannot connect: " + std::strerror(e);
    return "";
  }
  const std::string line = request + "\n";
  if (write(fd, line.data(), line.size()) != ssize_t(line.size())) {
    *error = path + ": cannot send the request: " + std::strerror(errno);
    close(fd);
    return "";
  }
  std::string reply;
  char buf[4096];
  pollfd p{fd, POLLIN, 0};
  while (reply.find('\n') == std::string::npos) {
    if (poll(&p, 1, 10000) <= 0) {
      *error = path + ": no reply within 10 s";
      break;
    }
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) {
      *error = path + ": harrier closed the connection without a reply";
      break;
    }
    reply.append(buf, size_t(n));
  }
  close(fd);
  return error->empty() ? reply.substr(0, reply.find('\n')) : "";
}

// Readable output: nested keys as indented "key: value" lines.
void print_readable(const json& j, int indent) {
  for (const auto& [k, v] : j.items()) {
    if (indent == 0 && k == "ok") continue;
    const std::string pad(size_t(indent) * 2, ' ');
    if (v.is_object()) {
      std::printf("%s%s:\n", pad.c_str(), k.c_str());
      print_readable(v, indent + 1);
    } else if (v.is_array() && !v.empty() && v.front().is_object()) {
      std::printf("%s%s:\n", pad.c_str(), k.c_str());
      for (const auto& e : v) {
        std::printf("%s  -\n", pad.c_str());
        print_readable(e, indent + 2);
      }
    } else {
      std::printf("%s%s: %s\n", pad.c_str(), k.c_str(),
                  v.is_string() ? v.get<std::string>().c_str() : v.dump().c_str());
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"harrierctl: control a running harrier"};
  app.set_version_flag("--version", std::string("harrierctl ") + HARRIER_VERSION);
  std::string socket_path = "/run/harrier/harrier.sock";
  bool as_json = false;
  app.add_option("--socket", socket_path, "harrier's control socket (control.socket)");
  app.add_flag("--json", as_json, "print harrier's reply as JSON");
  app.require_subcommand(1);
  app.fallthrough();  // --json and --socket after the command too
  for (const char* c : {"status", "stats", "detectors", "shutdown"})
    app.add_subcommand(c, std::string("harrier's ") + c);
  std::string action = "status";
  CLI::App* cap = app.add_subcommand("capture", "recording and incident captures");
  cap->add_option("ACTION", action, "status, start or stop")
      ->check(CLI::IsMember({"status", "start", "stop"}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  json req{{"command", app.get_subcommands().front()->get_name()}};
  if (cap->parsed()) req["action"] = action;

  std::string error;
  const std::string reply = ask(socket_path, req.dump(), &error);
  if (reply.empty()) {
    std::fprintf(stderr, "harrierctl: %s\n", error.c_str());
    return 1;
  }
  json j;
  try {
    j = json::parse(reply);
  } catch (const json::exception&) {
    std::fprintf(stderr, "harrierctl: harrier sent a reply that is not JSON: %s\n", reply.c_str());
    return 1;
  }
  const bool ok = j.value("ok", false);
  if (as_json)
    std::printf("%s\n", reply.c_str());
  else if (ok)
    print_readable(j, 0);
  if (!ok && !as_json)
    std::fprintf(stderr, "harrierctl: %s\n", j.value("error", std::string("failed")).c_str());
  return ok ? 0 : 1;
}
