// One worker's flow table: a fixed array of entries allocated on the
// worker's NUMA socket, a cuckoo index from key to entry (flow_index.h; the
// keys stay in the entries), and an LRU list threaded through the entries
// for expiry and eviction. Touched by exactly one thread; no locks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "dataplane/flow_index.h"
#include "dataplane/flow_key.h"
#include "dataplane/lru_list.h"

namespace harrier {

enum class TcpState : uint8_t {
  kNone = 0,     // not TCP
  kSynSent,      // initiator sent SYN, no answer yet
  kSynReceived,  // responder answered SYN-ACK
  kEstablished,  // handshake completed (or data seen both ways)
  kClosing,      // FIN seen
  kReset,        // RST seen
  kMidstream,    // first packet seen was not a SYN: opener unknown
};

// How the target answered an attempt, as far as the grace has seen.
enum class FlowAnswer : uint8_t {
  kNone = 0,  // nothing yet
  kPositive,  // SYN-ACK, or any reply for UDP
  kRefused,   // RST, or an ICMP unreachable quoting the attempt
};

struct FlowEntry {
  static constexpr int kMaxSynGaps = 15;

  FlowKey key;
  uint64_t first_ts = 0;  // packet time, ns
  uint64_t last_ts = 0;
  uint32_t pkts[2]{};  // [0] from the initiator, [1] from the responder
  uint64_t bytes[2]{};
  uint32_t lru_prev = 0, lru_next = 0;
  bool initiator_is_lo = false;  // which endpoint of key opened the flow
  TcpState tcp_state = TcpState::kNone;
  uint8_t responder_replied = 0;  // any packet seen from the responder
  // Whether each endpoint is in the home networks, decided once when the flow
  // is created so packets need not scan the prefix list.
  bool lo_home = false, hi_home = false;
  uint32_t alerted = 0;  // bit per detector (registry index): already alerted on this flow
  // Handshake evidence: the initiator's SYNs and their spacing.
  uint32_t syn_isn = 0;
  uint16_t syn_count = 0;        // SYNs carrying syn_isn
  uint16_t syn_isn_changes = 0;  // SYNs whose ISN differed (a new attempt on a reused tuple)
  uint64_t first_syn_ts = 0;
  uint64_t last_syn_ts = 0;
  uint32_t syn_gaps_ms[kMaxSynGaps]{};  // first gaps between SYNs, ms
  uint8_t syn_gap_count = 0;
  // The table's batch number (mod 2^16) when a lookup last returned this
  // flow: a flow the current batch holds is never the victim of its own
  // inserts. 0 is no batch; the table clears the marks when the number wraps.
  uint16_t batch = 0;

  // The attempt's outcome. A new flow toward a home host waits on the
  // table's answer-wait list until `answer_by` (its first packet's time plus
  // `answer_grace`, on the caller's answer clock: packet time that never
  // steps back); only what arrives by then counts as its answer.
  uint32_t wait_prev = 0, wait_next = 0;
  uint64_t answer_by = 0;    // 0: not waiting
  uint64_t probe_order = 0;  // global packet number of the attempt
  uint16_t probe_flags = 0;  // the attempt's TCP flags, IP id and TTL
  uint16_t probe_ip_id = 0;
  uint8_t probe_ttl = 0;
  bool probe_unexpected = false;  // inventory does not list the target's (proto, port)
  FlowAnswer answer = FlowAnswer::kNone;
  bool data_seen = false;  // payload either way before answer_by: a conversation
};

struct FlowTimeouts {
  uint32_t syn_sent_s = 300;  // long enough to see a 120 s retry cadence whole
  uint32_t established_s = 3600;
  uint32_t closed_s = 30;
  uint32_t udp_s = 180;
  uint32_t other_s = 60;
  // How long a new flow toward a home host has to be answered before it
  // is reported unanswered; shorter than every timeout above (checked).
  uint32_t answer_grace_ms = 3000;
  bool operator==(const FlowTimeouts&) const = default;
};

struct FlowTableCounters {
  uint64_t lookups = 0;
  uint64_t inserts = 0;
  uint64_t expired = 0;           // removed because idle past their timeout
  uint64_t evicted = 0;           // removed early because the table was full
  uint64_t insert_failures = 0;   // no room even after eviction
  uint64_t awaiting = 0;          // attempts put on the answer-wait list
  uint64_t awaiting_evicted = 0;  // of those, removed before their grace ran out: no outcome

  FlowTableCounters& operator+=(const FlowTableCounters& o) {
    lookups += o.lookups, inserts += o.inserts, expired += o.expired, evicted += o.evicted;
    insert_failures += o.insert_failures, awaiting += o.awaiting;
    awaiting_evicted += o.awaiting_evicted;
    return *this;
  }
};

class FlowTable {
 public:
  static constexpr uint32_t kNil = UINT32_MAX;
  static constexpr uint32_t kBurst = 64;  // keys per lookup_or_insert (a 64-bit miss mask)
  // The most flows one batch can hold (dataplane.batch_size is at most 1024).
  static constexpr uint32_t kMaxBatch = 1024;

  // Creates a table of `capacity` flows on `socket`. Returns nullptr and sets
  // *error when DPDK cannot allocate it.
  static std::unique_ptr<FlowTable> create(uint32_t capacity, int socket,
                                           const FlowTimeouts& timeouts, std::string* error);
  ~FlowTable();
  FlowTable(const FlowTable&) = delete;
  FlowTable& operator=(const FlowTable&) = delete;

  // Starts a batch: the flows lookup_or_insert returns from now on are the
  // batch's, and no insert of the same batch evicts one of them (callers
  // keep pointers to them until the batch is done).
  void begin_batch() noexcept {
    // A stale mark equal to the new number would protect an old flow (the
    // LRU head) and send inserts to waiting attempts: at the wrap, every
    // mark is cleared (a walk of the entries once per 65,535 batches).
    if (++batch_ == 0) {
      for (uint32_t i = 0; i < capacity_; ++i)
        entries_[i].batch = 0;
      batch_ = 1;
    }
  }

  // Finds or creates the flows of up to kBurst keys, prefetching for all
  // (now[i]: key i's packet time, stamped on the flows it creates). Found
  // flows move to the recent end of the LRU. out[i] is null only when the
  // table cannot insert (counted): every flow it could evict is the batch's
  // own. Keys may repeat within a burst.
  void lookup_or_insert(const FlowKey* const* keys, const uint64_t* now, uint32_t n,
                        FlowEntry** out, bool* created) noexcept;

  // A found flow's packet at `now`, once the burst's earlier packets updated
  // the flow: an idle flow past its state's timeout starts over in place
  // (returns true: a new conversation); otherwise its time advances.
  bool refresh(FlowEntry* e, uint64_t now) noexcept {
    if (now <= e->last_ts) return false;  // a capture may step back
    // Most packets come well within the shortest timeout of any state.
    if (now - e->last_ts <= min_timeout_ns_) {
      e->last_ts = now;
      return false;
    }
    return refresh_idle(e, now);
  }

  // Finds a live flow without creating one (for ICMP errors' quoted flows).
  FlowEntry* find(const FlowKey& key, uint64_t now) noexcept;

  // Removes up to `budget` idle flows from the LRU end. Cheap when none are due.
  uint32_t expire(uint64_t now, uint32_t budget) noexcept;

  bool is_expired(const FlowEntry& e, uint64_t now) const noexcept {
    if (now <= e.last_ts || now - e.last_ts <= min_timeout_ns_) return false;  // most packets
    return idle_past_timeout(e, now);
  }

  // The answer-wait list: attempts in the order they were made, so the
  // list is in deadline order (one grace for all) and taking what is due
  // looks at nothing that is not. `e` must be new (see FlowEntry).
  void await_answer(FlowEntry* e, uint64_t now, uint64_t order) noexcept;
  // Takes `e` off the list before its deadline (its answer is final).
  void stop_waiting(FlowEntry* e) noexcept;
  bool has_due(uint64_t now) const noexcept {
    return wait_.head != kNil && entries_[wait_.head].answer_by <= now;
  }
  // Takes every attempt whose grace ran out by `now` (all of them with
  // UINT64_MAX) off the list, oldest first, passing each to fn(FlowEntry&),
  // at most `limit` of them; returns how many.
  template <typename Fn>
  uint32_t take_due(uint64_t now, uint32_t limit, Fn&& fn) noexcept {
    uint32_t n = 0;
    while (n < limit && wait_.head != kNil && entries_[wait_.head].answer_by <= now) {
      FlowEntry& e = entries_[wait_.head];
      stop_waiting(&e);
      fn(e);
      ++n;
    }
    return n;
  }
  // What a table of `capacity` flows takes in memory (entries, free list,
  // index), for the end-of-run report.
  static size_t memory_bytes(uint32_t capacity);
  uint32_t size() const { return size_; }
  uint32_t capacity() const { return capacity_; }
  const FlowTableCounters& counters() const { return counters_; }

 private:
  FlowTable() = default;
  uint32_t index_of(const FlowEntry* e) const { return uint32_t(e - entries_); }
  // Moves a flow to the most-recently-used end of the LRU.
  void make_recent(FlowEntry* e) noexcept;
  void lru_unlink(uint32_t i) noexcept;
  void lru_push_tail(uint32_t i) noexcept;
  void remove(uint32_t i) noexcept;
  void leave_wait_list(uint32_t i) noexcept;
  FlowEntry* insert(const FlowKey& key, uint32_t hash, uint64_t now) noexcept;

  FlowIndex index_;
  FlowEntry* entries_ = nullptr;
  uint32_t* free_ = nullptr;  // stack of free entry slots
  uint32_t n_free_ = 0;
  uint16_t batch_ = 0;  // see begin_batch
  uint32_t capacity_ = 0;
  uint32_t size_ = 0;
  LruList lru_;
  IndexList<&FlowEntry::wait_prev, &FlowEntry::wait_next> wait_;
  bool refresh_idle(FlowEntry* e, uint64_t now) noexcept;
  bool make_index_room(uint32_t hash) noexcept;
  bool idle_past_timeout(const FlowEntry& e, uint64_t now) const noexcept;

  FlowTimeouts timeouts_;
  uint64_t min_timeout_ns_ = 0;  // the shortest of timeouts_, for refresh's fast path
  FlowTableCounters counters_;
};

}  // namespace harrier
