#include "app/progress.h"

#include <chrono>
#include <cstdio>
#include <string>

#include "detectors/detector.h"

namespace harrier {

ReadProgress::ReadProgress(uint64_t total_packets, uint64_t total_bytes,
                           std::function<ProgressSample()> sample)
    : total_packets_(total_packets), total_bytes_(total_bytes), sample_(std::move(sample)) {}

void ReadProgress::start() {
  thread_ = std::thread([this] { loop(); });
}

void ReadProgress::stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard l(wake_mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
  erase();
}

std::unique_lock<std::mutex> ReadProgress::erase() {
  std::unique_lock l(mu_);
  if (drawn_) {
    std::fputs("\r\033[K", stderr);
    drawn_ = false;
  }
  return l;
}

std::string ReadProgress::format(const ProgressSample& s, uint64_t total_packets,
                                 uint64_t total_bytes, double secs) {
  const double rate = secs > 0 ? double(s.packets) / secs : 0;
  const double done = total_packets ? double(s.packets) / double(total_packets) : 0;
  std::string left = "-";
  if (rate > 0 && s.packets <= total_packets) {
    const uint64_t t = uint64_t(double(total_packets - s.packets) / rate + 0.5);
    char b[32];
    std::snprintf(b, sizeof b, "%llu:%02llu", (unsigned long long)(t / 60),
                  (unsigned long long)(t % 60));
    left = b;
  }
  char b[256];
  std::snprintf(b, sizeof b, "harrier: %s of %s packets (%.0f%%), %s of %s MB, %.2f M packets/s, ",
                format_count(s.packets).c_str(), format_count(total_packets).c_str(), done * 100,
                format_count(s.bytes >> 20).c_str(), format_count(total_bytes >> 20).c_str(),
                rate / 1e6);
  return std::string(b) + left + " left, " + format_count(s.alerts) +
         (s.alerts == 1 ? " alert" : " alerts");
}

void ReadProgress::loop() {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  std::unique_lock w(wake_mu_);
  while (!wake_.wait_for(w, std::chrono::milliseconds(250), [this] { return stopping_; })) {
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    const std::string text = format(sample_(), total_packets_, total_bytes_, secs);
    std::lock_guard l(mu_);
    std::fprintf(stderr, "\r\033[K%s", text.c_str());
    drawn_ = true;
  }
}

}  // namespace harrier
