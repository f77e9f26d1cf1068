// One worker's flow table: rte_hash for the index, a fixed array of entries
// allocated on the worker's NUMA socket, and an LRU list threaded through the
// entries for expiry and eviction. Touched by exactly one thread; no locks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "dataplane/flow_key.h"
#include "dataplane/lru_list.h"

struct rte_hash;

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
};

struct FlowTimeouts {
  uint32_t syn_sent_s = 300;  // long enough to see a 120 s retry cadence whole
  uint32_t established_s = 3600;
  uint32_t closed_s = 30;
  uint32_t udp_s = 180;
  uint32_t other_s = 60;
  bool operator==(const FlowTimeouts&) const = default;
};

struct FlowTableCounters {
  uint64_t lookups = 0;
  uint64_t inserts = 0;
  uint64_t expired = 0;          // removed because idle past their timeout
  uint64_t evicted = 0;          // removed early because the table was full
  uint64_t insert_failures = 0;  // rte_hash refused even after eviction
};

class FlowTable {
 public:
  static constexpr uint32_t kNil = UINT32_MAX;
  static constexpr uint32_t kBurst = 64;  // RTE_HASH_LOOKUP_BULK_MAX

  // Creates a table of `capacity` flows on `socket`. Returns nullptr and sets
  // *error when DPDK cannot allocate it.
  static std::unique_ptr<FlowTable> create(const std::string& name, uint32_t capacity, int socket,
                                           const FlowTimeouts& timeouts, std::string* error);
  ~FlowTable();
  FlowTable(const FlowTable&) = delete;
  FlowTable& operator=(const FlowTable&) = delete;

  // Finds or creates the flows of up to kBurst keys with one bulk lookup
  // (now[i]: key i's packet time, stamped on the flows it creates). Found
  // flows move to the recent end of the LRU, so nothing this burst holds is
  // evicted by a later insert of the same burst. out[i] is never null unless
  // the table cannot insert at all (counted). Keys may repeat within a burst.
  void lookup_or_insert(const FlowKey* const* keys, const uint64_t* now, uint32_t n,
                        FlowEntry** out, bool* created) noexcept;

  // A found flow's packet at `now`, once the burst's earlier packets updated
  // the flow: an idle flow past its state's timeout starts over in place
  // (returns true: a new conversation); otherwise its time advances.
  bool refresh(FlowEntry* e, uint64_t now) noexcept;

  // Finds a live flow without creating one (for ICMP errors' quoted flows).
  FlowEntry* find(const FlowKey& key, uint64_t now) noexcept;

  // Removes up to `budget` idle flows from the LRU end. Cheap when none are due.
  uint32_t expire(uint64_t now, uint32_t budget) noexcept;

  bool is_expired(const FlowEntry& e, uint64_t now) const noexcept;
  // What a table of `capacity` flows takes in memory (entries, free list,
  // hash keys and buckets), for the end-of-run report.
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
  FlowEntry* insert(const FlowKey& key, uint32_t sig, uint64_t now) noexcept;

  rte_hash* hash_ = nullptr;
  FlowEntry* entries_ = nullptr;
  uint32_t* free_ = nullptr;  // stack of free entry slots
  uint32_t n_free_ = 0;
  uint32_t capacity_ = 0;
  uint32_t size_ = 0;
  LruList lru_;
  FlowTimeouts timeouts_;
  FlowTableCounters counters_;
};

}  // namespace harrier
