// harrierctl: talks to a running `harrier run` over its control socket.
//   harrierctl [--socket PATH] [--json] status|stats|reload|shutdown
//   harrierctl [--socket PATH] [--json] detectors [list | enable ID | disable ID]
//   harrierctl [--socket PATH] [--json] capture [status|start|stop]
//   harrierctl [--socket PATH] [--json] alerts tail [-n N] [--follow]
// Exit status: 0 done, 1 harrier refused or could not be reached, 2 usage.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

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
  // A harrier that refuses this client (every slot taken) says why and
  // closes before reading: the write fails, the reason is still there to read.
  const bool sent = write(fd, line.data(), line.size()) == ssize_t(line.size());
  const int send_errno = errno;
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
      *error = sent ? path + ": harrier closed the connection without a reply"
                    : path + ": cannot send the request: " + std::strerror(send_errno);
      break;
    }
    reply.append(buf, size_t(n));
  }
  close(fd);
  return error->empty() ? reply.substr(0, reply.find('\n')) : "";
}

// One request, its reply parsed; false and *error (the whole message) when
// harrier is not there, does not answer, or answers with something not JSON.
bool ask_json(const std::string& path, const json& request, json* reply, std::string* error) {
  const std::string line = ask(path, request.dump(), error);
  if (line.empty()) return false;
  try {
    *reply = json::parse(line);
  } catch (const json::exception&) {
    *error = "harrier sent a reply that is not JSON: " + line;
    return false;
  }
  return true;
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

// One alert as a line: time, detector, who -> whom, the analyst's sentence.
void print_alert(const json& a, bool as_json) {
  if (as_json) {
    std::printf("%s\n", a.dump().c_str());
    return;
  }
  auto endpoint = [&](const char* ip, const char* port) {
    std::string s = a.value(ip, std::string("?"));
    if (a.contains(port)) s += ":" + a[port].dump();
    return s;
  };
  const json& al = a.value("alert", json::object());
  std::printf("%s  %s  %s -> %s  %s\n", a.value("timestamp", std::string()).c_str(),
              a.value("detector", std::string()).c_str(), endpoint("src_ip", "src_port").c_str(),
              endpoint("dest_ip", "dest_port").c_str(),
              al.value("signature", std::string()).c_str());
}

volatile std::sig_atomic_t g_interrupted = 0;
void on_interrupt(int) {
  g_interrupted = 1;
}

// alerts tail [--follow]: the latest n, then (following) whatever is newer,
// asked for every quarter second until interrupted or harrier goes away.
int tail_alerts(const std::string& path, int n, bool follow, bool as_json) {
  uint64_t after = 0;
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
  for (bool first = true; first || (follow && !g_interrupted); first = false) {
    if (!first) std::this_thread::sleep_for(std::chrono::milliseconds(250));
    std::string error;
    json req{{"command", "alerts"}, {"action", "tail"}, {"n", first ? n : 1000}};
    if (!first) req["after"] = after;
    json j;
    if (!ask_json(path, req, &j, &error)) {
      if (g_interrupted) break;
      std::fprintf(stderr, "harrierctl: %s\n", error.c_str());
      return 1;
    }
    if (!j.value("ok", false)) {
      std::fprintf(stderr, "harrierctl: %s\n", j.value("error", std::string("failed")).c_str());
      return 1;
    }
    const uint64_t last = j.value("last", uint64_t(0));
    const json& list = j["alerts"];
    // Alerts that scrolled out of harrier's window between two asks are
    // said to be missed, not silently skipped.
    if (!first && last > after + list.size())
      std::fprintf(stderr, "harrierctl: %llu alerts came and went between two looks\n",
                   (unsigned long long)(last - after - list.size()));
    for (const json& a : list)
      print_alert(a, as_json);
    std::fflush(stdout);
    after = last;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // harrier closing the connection is an error to report, not a signal.
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"harrierctl: control a running harrier"};
  app.set_version_flag("--version", std::string("harrierctl ") + HARRIER_VERSION);
  std::string socket_path = "/run/harrier/harrier.sock";
  bool as_json = false;
  app.add_option("--socket", socket_path, "harrier's control socket (control.socket)");
  app.add_flag("--json", as_json, "print harrier's reply as JSON");
  app.require_subcommand(1);
  app.fallthrough();  // --json and --socket after the command too
  for (const char* c : {"status", "stats", "shutdown"})
    app.add_subcommand(c, std::string("harrier's ") + c);
  app.add_subcommand("reload",
                     "load the configuration files again: home networks, inventory and "
                     "detector settings change without dropping a packet");
  std::string det_action = "list", det_id;
  CLI::App* det = app.add_subcommand("detectors", "list the detectors, or switch one on or off");
  det->add_option("ACTION", det_action, "list, enable or disable")
      ->check(CLI::IsMember({"list", "enable", "disable"}));
  det->add_option("ID", det_id, "detector id, e.g. horizontal-scan");
  std::string alerts_action = "tail";
  int tail_n = 10;
  bool follow = false;
  CLI::App* al = app.add_subcommand("alerts", "the latest alerts");
  al->add_option("ACTION", alerts_action, "tail")->check(CLI::IsMember({"tail"}));
  al->add_option("-n", tail_n, "how many (1..1000)")->check(CLI::Range(1, 1000));
  al->add_flag("-f,--follow", follow, "keep printing new alerts until interrupted");
  std::string action = "status";
  CLI::App* cap = app.add_subcommand("capture", "recording and incident captures");
  cap->add_option("ACTION", action, "status, start or stop")
      ->check(CLI::IsMember({"status", "start", "stop"}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (al->parsed()) return tail_alerts(socket_path, tail_n, follow, as_json);
  json req{{"command", app.get_subcommands().front()->get_name()}};
  if (cap->parsed()) req["action"] = action;
  if (det->parsed()) {
    if (det_action != "list" && det_id.empty()) {
      std::fprintf(stderr, "harrierctl: detectors %s needs a detector id\n", det_action.c_str());
      return 2;
    }
    req["action"] = det_action;
    if (!det_id.empty()) req["id"] = det_id;
  }

  std::string error;
  json j;
  if (!ask_json(socket_path, req, &j, &error)) {
    std::fprintf(stderr, "harrierctl: %s\n", error.c_str());
    return 1;
  }
  const bool ok = j.value("ok", false);
  if (as_json)
    std::printf("%s\n", j.dump().c_str());
  else if (ok)
    print_readable(j, 0);
  if (!ok && !as_json)
    std::fprintf(stderr, "harrierctl: %s\n", j.value("error", std::string("failed")).c_str());
  return ok ? 0 : 1;
}
