#include "control/output.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "dataplane/prefix.h"
#include "detectors/explain.h"
#include "detectors/registry.h"

namespace harrier {

namespace {
FILE* open_out(const std::string& path, bool* owned) {
  *owned = false;
  if (path.empty()) return nullptr;
  if (path == "-") return stdout;
  FILE* f = std::fopen(path.c_str(), "a");
  if (!f) throw std::runtime_error(path + ": cannot open for writing: " + std::strerror(errno));
  *owned = true;
  return f;
}

std::string upper_proto(uint8_t p) {
  std::string s = proto_name(p);
  for (char& c : s)
    c = char(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

const char* severity_word(int s) {
  return s == 1 ? "high" : s == 2 ? "medium" : "low";
}
}  // namespace

AlertOutput::AlertOutput(const OutputConfig& cfg, AlertQueue* queue) : cfg_(cfg), queue_(queue) {
  eve_ = open_out(cfg.eve, &own_eve_);
  fast_ = open_out(cfg.fast, &own_fast_);
  if (cfg.summary) summary_ = (cfg.eve == "-" || cfg.fast == "-") ? stderr : stdout;
}

AlertOutput::~AlertOutput() {
  if (thread_.joinable()) finish();
  if (own_eve_) std::fclose(eve_);
  if (own_fast_) std::fclose(fast_);
}

void AlertOutput::start() {
  thread_ = std::thread([this] { loop(); });
}

void AlertOutput::finish() {
  done_.store(true, std::memory_order_release);
  if (thread_.joinable()) thread_.join();
  while (drain()) {
  }
  flush();
}

void AlertOutput::flush() {
  if (eve_) std::fflush(eve_);
  if (fast_) std::fflush(fast_);
  if (summary_) std::fflush(summary_);
}

void AlertOutput::loop() {
  while (!done_.load(std::memory_order_acquire)) {
    if (drain() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

// A file that cannot be reopened keeps the old one, so no alert is lost.
void AlertOutput::reopen() {
  auto swap = [](const std::string& path, bool owned, FILE*& f) {
    if (!owned || !f) return;
    FILE* fresh = std::fopen(path.c_str(), "a");
    if (!fresh) {
      spdlog::error("{}: cannot reopen after SIGHUP ({}); still writing to the old file", path,
                    std::strerror(errno));
      return;
    }
    std::fclose(f);
    f = fresh;
  };
  swap(cfg_.eve, own_eve_, eve_);
  swap(cfg_.fast, own_fast_, fast_);
}

uint32_t AlertOutput::drain() {
  if (reopen_.exchange(false, std::memory_order_relaxed)) reopen();
  Alert* batch[64];
  const uint32_t n = queue_->pop(batch, 64);
  for (uint32_t i = 0; i < n; ++i)
    write(*batch[i]);
  queue_->release(batch, n);
  if (n) {
    // Line-at-a-time visibility for tail -f and pipes, without a flush per alert.
    if (eve_) std::fflush(eve_);
    if (fast_) std::fflush(fast_);
  }
  return n;
}

void AlertOutput::write(const Alert& a) {
  if (a.disposition == AlertDisposition::kClosed) {
    notes_.close(a.incident_id);
    return;
  }
  const DetectorDescriptor& d = *detector_registry()[a.detector];
  AlertText t;
  d.render(a, t);
  if (a.disposition == AlertDisposition::kFolded) {
    // Evidence for its incident's next alert; on EVE as a record of its
    // own kind, so the detector's finding stays on file.
    notes_.fold(a, t);
    if (eve_ || cfg_.redis) {
      std::string line = annotated_line(a, t, std::string());
      if (eve_) std::fputs((line + "\n").c_str(), eve_);
      if (cfg_.redis) cfg_.redis->push(std::move(line));
    }
    ++folded_;
    return;
  }
  notes_.annotate(a, t);
  const std::string capture =
      a.capture_id && cfg_.incidents ? cfg_.incidents->file_for(a.capture_id) : std::string();
  if (eve_ || cfg_.keep_recent || cfg_.redis) {
    std::string line = annotated_line(a, t, capture);
    if (eve_) std::fputs((line + "\n").c_str(), eve_);
    if (cfg_.redis) cfg_.redis->push(line);
    if (cfg_.keep_recent) {
      std::lock_guard lock(recent_mu_);
      recent_.push_back(std::move(line));
      if (recent_.size() > cfg_.keep_recent) recent_.pop_front();
      ++recent_last_;
    }
  }
  if (fast_) std::fputs((fast_line(a, t) + "\n").c_str(), fast_);
  if (summary_) {
    std::unique_lock<std::mutex> line;
    if (cfg_.status_line) line = cfg_.status_line->erase();
    std::fputs(
        (summary_line(a, t) + (capture.empty() ? "" : "\n    packets: " + capture) + "\n").c_str(),
        summary_);
    if (cfg_.explain)
      std::fputs(("\n" + explain_alert(eve_record(a, t, capture)) + "\n").c_str(), summary_);
    if (cfg_.status_line) std::fflush(summary_);  // out before the line is drawn again
  }
  ++written_;
  ++per_detector_[std::string(d.id)];
}

std::string AlertOutput::annotated_line(const Alert& a, const AlertText& t,
                                        const std::string& capture_file) {
  if (!cfg_.annotator) return eve_line(a, t, capture_file);
  nlohmann::ordered_json j = eve_record(a, t, capture_file);
  cfg_.annotator->annotate(a, j["harrier"]);
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::vector<std::string> AlertOutput::recent(uint64_t after, size_t max, uint64_t* last) const {
  std::lock_guard lock(recent_mu_);
  *last = recent_last_;
  const uint64_t first = recent_last_ - recent_.size() + 1;  // number of recent_.front()
  uint64_t from = std::max(first, after + 1);
  if (recent_last_ >= from && recent_last_ - from + 1 > max) from = recent_last_ - max + 1;
  std::vector<std::string> out;
  for (uint64_t n = from; n <= recent_last_; ++n)
    out.push_back(recent_[size_t(n - first)]);
  return out;
}

std::string AlertOutput::eve_line(const Alert& a, const AlertText& t,
                                  const std::string& capture_file) {
  return eve_record(a, t, capture_file)
      .dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

nlohmann::ordered_json AlertOutput::eve_record(const Alert& a, const AlertText& t,
                                               const std::string& capture_file) {
  const DetectorDescriptor& d = *detector_registry()[a.detector];
  nlohmann::ordered_json j;
  j["timestamp"] = eve_timestamp(a.ts);
  j["event_type"] = a.disposition == AlertDisposition::kFolded ? "folded" : "alert";
  j["src_ip"] = ip_to_string(a.src);
  if (a.proto == 6 || a.proto == 17) j["src_port"] = a.sport;
  j["dest_ip"] = ip_to_string(a.dst);
  if (a.proto == 6 || a.proto == 17) j["dest_port"] = a.dport;
  j["proto"] = upper_proto(a.proto);
  j["detector"] = d.id;
  j["alert"] = {{"action", "allowed"},
                {"gid", 1},
                {"signature_id", d.sid},
                {"rev", 1},
                {"signature", t.signature},
                {"category", d.category},
                {"severity", a.score.alert_severity()}};
  j["harrier"] = {{"score",
                   {{"criticality", a.score.criticality},
                    {"lethality", a.score.lethality},
                    {"network_cm", a.score.network_cm},
                    {"system_cm", a.score.system_cm},
                    {"value", a.score.value()}}},
                  {"update", a.update},
                  {"evidence", t.evidence}};
  if (a.incident_id) j["harrier"]["incident"] = incident_json(a);
  if (!capture_file.empty()) j["harrier"]["capture_file"] = capture_file;
  return j;
}

std::string AlertOutput::fast_line(const Alert& a, const AlertText& t) {
  const DetectorDescriptor& d = *detector_registry()[a.detector];
  const time_t secs = time_t(a.ts / 1'000'000'000ull);
  tm tmv{};
  gmtime_r(&secs, &tmv);
  char ts[64];
  std::snprintf(ts, sizeof(ts), "%02d/%02d-%02d:%02d:%02d.%06u", tmv.tm_mon + 1, tmv.tm_mday,
                tmv.tm_hour, tmv.tm_min, tmv.tm_sec, unsigned((a.ts % 1'000'000'000ull) / 1000));
  const bool ports = a.proto == 6 || a.proto == 17;
  return std::string(ts) + "  [**] [1:" + std::to_string(d.sid) + ":1] " + t.signature +
         " [**] [Classification: " + std::string(d.category) +
         "] [Priority: " + std::to_string(a.score.alert_severity()) + "] {" + upper_proto(a.proto) +
         "} " + ip_to_string(a.src) + (ports ? ":" + std::to_string(a.sport) : "") + " -> " +
         ip_to_string(a.dst) + (ports ? ":" + std::to_string(a.dport) : "");
}

std::string AlertOutput::summary_line(const Alert& a, const AlertText& t) {
  const DetectorDescriptor& d = *detector_registry()[a.detector];
  std::string ts = eve_timestamp(a.ts);
  ts[10] = ' ';
  ts.resize(ts.size() - 5);  // drop "+0000": the summary says UTC once
  const bool ports = a.proto == 6 || a.proto == 17;
  const Score& s = a.score;
  return ts + "  " + severity_word(s.alert_severity()) + "  " + std::string(d.id) + "  " +
         ip_to_string(a.src) + (ports ? ":" + std::to_string(a.sport) : "") + " -> " +
         ip_to_string(a.dst) + (ports ? ":" + std::to_string(a.dport) : "") + "\n    " +
         t.signature + "\n    severity (" + std::to_string(s.criticality) + " + " +
         std::to_string(s.lethality) + ") - (" + std::to_string(s.network_cm) + " + " +
         std::to_string(s.system_cm) + ") = " + std::to_string(s.value());
}

}  // namespace harrier
