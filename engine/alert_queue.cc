#include "engine/alert_queue.h"

#include <atomic>
#include <sched.h>

#include <rte_errno.h>
#include <rte_mempool.h>
#include <rte_ring.h>

namespace harrier {

std::unique_ptr<AlertQueue> AlertQueue::create(uint32_t capacity, int socket, std::string* error) {
  std::unique_ptr<AlertQueue> q(new AlertQueue());
  static std::atomic<int> instance{0};
  const std::string id = std::to_string(instance++);
  q->ring_ = rte_ring_create(("alerts_r" + id).c_str(), rte_align32pow2(capacity + 1), socket,
                             RING_F_SP_ENQ | RING_F_SC_DEQ);
  if (!q->ring_) {
    *error = std::string("cannot create the alert ring: ") + rte_strerror(rte_errno);
    return nullptr;
  }
  q->pool_ = rte_mempool_create(("alerts_p" + id).c_str(), capacity, sizeof(Alert), 0, 0, nullptr,
                                nullptr, nullptr, nullptr, socket, 0);
  if (!q->pool_) {
    *error = std::string("cannot create the alert pool: ") + rte_strerror(rte_errno);
    return nullptr;
  }
  return q;
}

AlertQueue::~AlertQueue() {
  if (ring_) rte_ring_free(ring_);
  if (pool_) rte_mempool_free(pool_);
}

bool AlertQueue::push(const Alert& a, bool wait) noexcept {
  void* obj = nullptr;
  while (rte_mempool_get(pool_, &obj) != 0) {
    if (!wait) return false;
    sched_yield();
  }
  *static_cast<Alert*>(obj) = a;
  while (rte_ring_sp_enqueue(ring_, obj) != 0)
    sched_yield();  // ring holds the whole pool
  return true;
}

uint32_t AlertQueue::pop(Alert** out, uint32_t max) noexcept {
  return rte_ring_sc_dequeue_burst(ring_, reinterpret_cast<void**>(out), max, nullptr);
}

void AlertQueue::release(Alert* const* a, uint32_t n) noexcept {
  rte_mempool_put_bulk(pool_, reinterpret_cast<void* const*>(a), n);
}

}  // namespace harrier
