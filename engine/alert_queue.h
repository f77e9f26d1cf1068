// Alerts leave the packet threads through here: fixed-size records from a
// mempool, passed by pointer over a single-producer/single-consumer ring to
// the output thread, which renders, writes and returns them. Nothing on the
// packet side allocates, formats or blocks on I/O.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "detectors/alert.h"

struct rte_ring;
struct rte_mempool;

namespace harrier {

class AlertQueue {
 public:
  static std::unique_ptr<AlertQueue> create(uint32_t capacity, int socket, std::string* error);
  ~AlertQueue();

  // Packet side (one producer). With `wait`, spins until there is room:
  // offline reading must not lose alerts, and the output thread always
  // drains. Without, a full queue returns false (the caller counts it).
  bool push(const Alert& a, bool wait) noexcept;
  // Output side (one consumer): up to `max` alerts; give each back with release().
  uint32_t pop(Alert** out, uint32_t max) noexcept;
  void release(Alert* const* a, uint32_t n) noexcept;

 private:
  AlertQueue() = default;
  rte_ring* ring_ = nullptr;
  rte_mempool* pool_ = nullptr;
};

}  // namespace harrier
