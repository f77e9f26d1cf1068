// A single writer's counters, readable by any thread while it runs: the
// writer publishes a copy now and then (a shard, at the end of each batch)
// under a sequence lock, and a reader retries until it gets a copy no
// publish overlapped. So a reader never sees a torn or half-updated set,
// and the hot path keeps plain counters. Every word goes through an
// atomic, so there is no data race in the C++ sense either.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace harrier {

template <typename T>
class Published {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) % 8 == 0);
  static constexpr size_t kWords = sizeof(T) / 8;

 public:
  // The one writer.
  void publish(const T& value) noexcept {
    uint64_t words[kWords];
    std::memcpy(words, &value, sizeof(T));
    const uint64_t s = seq_.load(std::memory_order_relaxed);
    seq_.store(s + 1, std::memory_order_relaxed);  // odd: a publish is under way
    std::atomic_thread_fence(std::memory_order_release);
    for (size_t i = 0; i < kWords; ++i)
      data_[i].store(words[i], std::memory_order_relaxed);
    seq_.store(s + 2, std::memory_order_release);
  }

  // Any thread.
  T read() const noexcept {
    uint64_t words[kWords];
    for (;;) {
      const uint64_t before = seq_.load(std::memory_order_acquire);
      if (before & 1) continue;
      for (size_t i = 0; i < kWords; ++i)
        words[i] = data_[i].load(std::memory_order_relaxed);
      std::atomic_thread_fence(std::memory_order_acquire);
      if (seq_.load(std::memory_order_relaxed) == before) break;
    }
    T value;
    std::memcpy(&value, words, sizeof(T));
    return value;
  }

 private:
  std::atomic<uint64_t> seq_{0};
  std::array<std::atomic<uint64_t>, kWords> data_{};
};

}  // namespace harrier
