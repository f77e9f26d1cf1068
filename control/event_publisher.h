// A sensor's host events to Redis Streams, for correlation across sensors
// (correlation.sensor set; docs/scale-out.md).
//
// The emit stage copies each batch's host events into a bounded ring and
// goes on; a thread of this publisher's own sorts them by partition
// (slot_owner(key_slot, P): the rule that picks a host shard) and appends
// one entry per partition and round to "<key>:{p}":
//   s <sensor>  r <run id>  n <entry number>  w <watermark>  [e <events>]  [end 1]
// `w` says every event of this sensor with packet time below it is out
// (the batch's time less the answer grace, within which connection outcomes
// of earlier attempts still arrive), so a correlator can order events from
// several sensors by packet time. Partitions that had no events get a mark
// (no `e`) as the watermark moves, and every partition an `end` when the
// input ends. `r` and `n` let a correlator drop an entry sent twice (a
// reply lost with a broken connection: entries are resent until answered).
//
// Like the Redis output, a slow or absent Redis never stalls analysis:
// live, a full ring refuses the newest batch's events (`dropped`); offline,
// the emit stage waits for room up to drain_timeout, and what Redis never
// took is `undelivered`, named at exit.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "control/correlation_config.h"
#include "control/redis_router.h"
#include "dataplane/pegs.h"
#include "engine/event_tap.h"

namespace harrier {

class EventPublisher final : public EventTap {
 public:
  // `lossless`: the emit stage waits for room (offline) rather than drop.
  EventPublisher(const CorrelationConfig& cfg, uint64_t answer_grace_ns, bool lossless);
  ~EventPublisher() override;
  EventPublisher(const EventPublisher&) = delete;
  EventPublisher& operator=(const EventPublisher&) = delete;

  void start();
  void on_batch(const EventTapBatch& b) noexcept override;
  // After the last batch: waits until Redis took everything or `timeout_s`
  // passed, then stops. Returns the events left undelivered.
  uint64_t finish(double timeout_s);

  // Any thread.
  PegValues pegs() const;
  std::string last_error() const;
  const CorrelationConfig& config() const { return cfg_; }
  uint64_t undelivered() const { return undelivered_.get(); }

  static constexpr PegInfo kPegs[] = {
      {"events", PegKind::kSum, "host events Redis accepted"},
      {"entries", PegKind::kSum, "stream entries Redis accepted (events, marks and ends)"},
      {"dropped", PegKind::kSum, "events refused because the ring was full (run only)"},
      {"undelivered", PegKind::kSum,
       "events Redis never took: still in the ring when the run ended, or given up on by read"},
      {"rejected", PegKind::kSum, "entries Redis answered with an error (not retried)"},
      {"connects", PegKind::kSum, "connections made to Redis"},
      {"connect_failures", PegKind::kSum,
       "connection attempts that failed (retried with back-off)"},
      {"buffered", PegKind::kNow, "events waiting for Redis"},
      {"connected", PegKind::kNow, "1 while connected to Redis"},
  };

 private:
  struct Batch {  // one emitted batch in the ring
    uint64_t watermark = 0;
    uint32_t n_events = 0;
    bool end = false;
  };
  struct Entry {  // one XADD of a round
    uint32_t partition = 0;
    uint32_t n_events = 0;
    std::string number, blob;
    bool end = false;
  };

  void run();
  void build_round();
  void release_taken();
  // Sends the round's entries not yet answered; false when the connection broke.
  bool send_round();
  void set_error(const std::string& e);

  const CorrelationConfig cfg_;
  const uint64_t grace_ns_;
  const bool lossless_;
  const std::string run_id_;
  RedisRouter link_;
  std::thread thread_;

  mutable std::mutex mu_;
  std::condition_variable wake_, room_, empty_;
  std::vector<HostEvent> ring_;  // events, oldest at head_
  size_t head_ = 0, size_ = 0;
  std::deque<Batch> batches_;
  size_t taken_batches_ = 0, taken_events_ = 0;  // the sender's current round, at the front
  bool stop_ = false;
  bool given_up_ = false;
  std::string error_;

  // The sender's own.
  std::vector<Entry> round_;
  std::string round_watermark_;
  std::vector<uint64_t> next_number_;  // per partition
  std::vector<uint64_t> mark_ns_;      // per partition: steady time of its latest entry
  std::vector<uint64_t> marked_w_;     // per partition: the watermark it last carried
  std::vector<std::string> blobs_;     // per partition, reused

  Peg events_, entries_, dropped_, undelivered_, rejected_, connects_, failures_, buffered_,
      connected_;
};

}  // namespace harrier
