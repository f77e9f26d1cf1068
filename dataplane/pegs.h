// A component's counters as one table (Snort 3's PegInfo): the component
// names each counter once, with its kind and help, and `stats`, Prometheus
// and the end-of-run report read every component's table the same way. A
// new counter needs no edit outside the component that counts it.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace harrier {

enum class PegKind : uint8_t {
  kSum,  // counted since the start (a Prometheus counter)
  kNow,  // a level, such as entries in a table now (a gauge); shards' levels add up
};

struct PegInfo {
  std::string_view name;  // snake_case; unique within its component
  PegKind kind;
  std::string_view help;
};

// A counter that one thread writes and any thread may read while it runs:
// the writer's add is a plain load and store (no locked instruction: it is
// the only writer), and a reader never sees a torn value.
class Peg {
 public:
  void add(uint64_t n = 1) noexcept {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void sub(uint64_t n = 1) noexcept {
    v_.store(v_.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
  }
  void set(uint64_t n) noexcept { v_.store(n, std::memory_order_relaxed); }
  uint64_t get() const noexcept { return v_.load(std::memory_order_relaxed); }
  Peg& operator++() noexcept { return add(1), *this; }

 private:
  std::atomic<uint64_t> v_{0};
};

// One component's counters as read: the table and a value per row.
struct PegValues {
  std::string component;  // e.g. the detector id
  std::span<const PegInfo> info;
  std::vector<uint64_t> values;  // info.size(), in its order
};

}  // namespace harrier
