// harrier read's progress on a terminal: packets and bytes read of the
// total the pre-scan counted, the rate, the time left and the alerts so
// far, redrawn in place on stderr a few times a second. Only when stderr is
// a terminal and the run is not --quiet; the summary's alert lines are
// written between redraws (TerminalLine), never into the status line.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

#include "control/output.h"

namespace harrier {

struct ProgressSample {
  uint64_t packets = 0;  // analysed
  uint64_t bytes = 0;    // read from the files
  uint64_t alerts = 0;
};

class ReadProgress final : public TerminalLine {
 public:
  ReadProgress(uint64_t total_packets, uint64_t total_bytes,
               std::function<ProgressSample()> sample);
  ~ReadProgress() override { stop(); }

  void start();
  // Stops redrawing and erases the line.
  void stop();
  std::unique_lock<std::mutex> erase() override;

  // The status text for a sample `secs` into the run (also used by tests).
  static std::string format(const ProgressSample& s, uint64_t total_packets, uint64_t total_bytes,
                            double secs);

 private:
  void loop();

  const uint64_t total_packets_, total_bytes_;
  std::function<ProgressSample()> sample_;
  std::mutex mu_;  // the terminal line: drawn, erased
  bool drawn_ = false;
  std::mutex wake_mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace harrier
