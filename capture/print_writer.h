// Where `--print` lines go: a thread of their own, fed by the emit stage a
// batch at a time through a bounded queue, so a slow reader (a pager, a
// stalled ssh session) never holds up the packet path. Live, what does not
// fit is dropped and counted; offline the emit stage waits instead.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

namespace harrier {

class PrintWriter {
 public:
  PrintWriter(FILE* out, bool lossless, size_t max_queued_bytes = 8u << 20);
  ~PrintWriter();
  PrintWriter(const PrintWriter&) = delete;
  PrintWriter& operator=(const PrintWriter&) = delete;

  // Emit thread: `lines` (for `packets` packets) to be written; takes them.
  void push(std::string&& lines, uint32_t packets);
  // Writes what is queued and stops. Idempotent.
  void finish();
  uint64_t dropped_packets() const;

 private:
  void loop();

  FILE* out_;
  bool lossless_;
  size_t max_bytes_;
  mutable std::mutex mu_;
  std::condition_variable ready_, space_;
  std::deque<std::string> queue_;
  size_t queued_bytes_ = 0;
  bool done_ = false;
  uint64_t dropped_ = 0;
  std::thread thread_;
};

}  // namespace harrier
