#include "capture/print_writer.h"

namespace harrier {

PrintWriter::PrintWriter(FILE* out, bool lossless, size_t max_queued_bytes)
    : out_(out), lossless_(lossless), max_bytes_(max_queued_bytes) {
  thread_ = std::thread([this] { loop(); });
}

PrintWriter::~PrintWriter() {
  finish();
}

void PrintWriter::push(std::string&& lines, uint32_t packets) {
  if (lines.empty()) return;
  std::unique_lock<std::mutex> lock(mu_);
  if (queued_bytes_ + lines.size() > max_bytes_ && !queue_.empty()) {
    if (!lossless_) {
      dropped_ += packets;
      lines.clear();
      return;
    }
    space_.wait(lock, [&] { return queued_bytes_ + lines.size() <= max_bytes_ || queue_.empty(); });
  }
  queued_bytes_ += lines.size();
  queue_.push_back(std::move(lines));
  lines = std::string();
  ready_.notify_one();
}

void PrintWriter::loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    ready_.wait(lock, [&] { return done_ || !queue_.empty(); });
    if (queue_.empty()) return;  // done and drained
    std::string chunk = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    std::fwrite(chunk.data(), 1, chunk.size(), out_);
    std::fflush(out_);
    lock.lock();
    queued_bytes_ -= chunk.size();
    space_.notify_one();
  }
}

void PrintWriter::finish() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (done_) return;
    done_ = true;
  }
  ready_.notify_one();
  if (thread_.joinable()) thread_.join();
}

uint64_t PrintWriter::dropped_packets() const {
  std::lock_guard<std::mutex> lock(mu_);
  return dropped_;
}

}  // namespace harrier
