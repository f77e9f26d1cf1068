// The output thread: takes alerts off the AlertQueue, renders them with their
// detector's renderer and writes EVE JSON, Snort fast lines and the readable
// summary. Only this thread formats or does I/O for alerts.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "capture/incident_recorder.h"
#include "control/redis_output.h"
#include "engine/alert_queue.h"
#include "detectors/detector.h"
#include "detectors/incident_fusion.h"

namespace harrier {

// A status line redrawn on the terminal the summary also goes to (read's
// progress): the output thread erases it, holding its lock, before writing
// summary lines, so the two never share a line.
class TerminalLine {
 public:
  virtual ~TerminalLine() = default;
  virtual std::unique_lock<std::mutex> erase() = 0;
};

// Adds members to the "harrier" object of an alert's EVE record before it
// is written (the correlator names the sensors that saw each part). Called
// on the thread that writes.
class RecordAnnotator {
 public:
  virtual ~RecordAnnotator() = default;
  virtual void annotate(const Alert& a, nlohmann::ordered_json& harrier) = 0;
};

struct OutputConfig {
  std::string eve;       // path, "-" = stdout, "" = none
  std::string fast;      // same
  bool summary = true;   // readable lines (stdout, or stderr when EVE/fast use stdout)
  bool explain = false;  // each alert's full explanation after its summary lines
  const IncidentRecorder* incidents = nullptr;  // names each alert's incident capture
  uint32_t keep_recent = 0;  // EVE lines of the latest alerts kept for `harrierctl alerts tail`
  TerminalLine* status_line = nullptr;  // erased before summary lines (see TerminalLine)
  RedisOutput* redis = nullptr;         // every EVE record also goes here (outputs.redis)
  RecordAnnotator* annotator = nullptr;
};

class AlertOutput {
 public:
  // Opens the files; throws std::runtime_error naming the path on failure.
  AlertOutput(const OutputConfig& cfg, AlertQueue* queue);
  ~AlertOutput();

  void start();
  // Drains whatever is still queued, flushes and closes. Call after the
  // pipeline stopped producing.
  void finish();

  // Without start(): the caller's thread writes one record now (the
  // correlator, which must know an alert is written before it says so in
  // Redis); flush() makes what was written visible.
  void write_now(const Alert& a) {
    if (reopen_.exchange(false, std::memory_order_relaxed)) reopen();
    write(a);
  }
  void set_annotator(RecordAnnotator* a) { cfg_.annotator = a; }
  void flush();

  // Async-signal-safe: the output thread reopens the EVE and fast files
  // before its next write (logrotate moved them away).
  void request_reopen() { reopen_.store(true, std::memory_order_relaxed); }

  // Any thread: up to `max` of the kept EVE lines numbered above `after`
  // (alerts are numbered from 1), the newest last; *last = the newest
  // alert's number. Lines older than the kept window are gone.
  std::vector<std::string> recent(uint64_t after, size_t max, uint64_t* last) const;

  uint64_t written() const { return written_; }
  uint64_t folded() const { return folded_; }  // detectors' alerts folded into incidents
  const std::map<std::string, uint64_t>& per_detector() const { return per_detector_; }
  FILE* summary_stream() const { return summary_; }

  // Pure formatting, also used by tests.
  // `capture_file`: the incident capture holding the alert's packets, if any.
  static nlohmann::ordered_json eve_record(const Alert& a, const AlertText& t,
                                           const std::string& capture_file = {});
  static std::string eve_line(const Alert& a, const AlertText& t,
                              const std::string& capture_file = {});
  static std::string fast_line(const Alert& a, const AlertText& t);
  static std::string summary_line(const Alert& a, const AlertText& t);

 private:
  void loop();
  uint32_t drain();
  void write(const Alert& a);
  std::string annotated_line(const Alert& a, const AlertText& t, const std::string& capture_file);

  OutputConfig cfg_;
  AlertQueue* queue_;
  FILE* eve_ = nullptr;
  FILE* fast_ = nullptr;
  FILE* summary_ = nullptr;
  bool own_eve_ = false, own_fast_ = false;
  std::thread thread_;
  std::atomic<bool> done_{false};
  std::atomic<bool> reopen_{false};
  void reopen();
  uint64_t written_ = 0;
  uint64_t folded_ = 0;
  IncidentNotes notes_;  // folded findings of the open incidents
  std::map<std::string, uint64_t> per_detector_;
  mutable std::mutex recent_mu_;
  std::deque<std::string> recent_;  // EVE lines of alerts recent_last_ - size + 1 .. recent_last_
  uint64_t recent_last_ = 0;
};

}  // namespace harrier
