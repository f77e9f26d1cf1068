// `harrier correlate`: the host-behaviour detectors over the host events of
// several sensors, read from Redis Streams (docs/scale-out.md).
//
// Sensors publish each partition's events to its own stream
// (control/event_publisher.h). A correlator owns partitions through leases
// in Redis (SET NX PX, renewed while it lives; a fair share of them when
// several correlators run), and for each it owns:
//
//  - reads the stream in the consumer group (XREADGROUP), dropping entries
//    a sensor sent twice (its run id and entry number);
//  - holds events in a heap until every sensor's watermark has passed them
//    (or the slowest lags the fastest by more than `lateness`: then it is
//    not waited for, and what it sends below the line is counted as late),
//    so the detectors see the sensors' events merged in packet-time order;
//  - runs the same HostStage a sensor's host shard runs, and the same
//    incident fusion, and writes each alert with the sensors that saw each
//    part of it (harrier.sensors);
//  - acknowledges an entry (XACK) once its events were used and are older
//    than `hold`, records how far its alerts are written (the checkpoint),
//    and trims what every reader acknowledged.
//
// A correlator that dies leaves its unacknowledged entries pending. Whoever
// takes its partitions next claims them (XAUTOCLAIM) and replays them into
// fresh state: events within `hold` of the end rebuild the incidents in
// progress, and alerts at or before the checkpoint, written already, are
// not written again.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "control/config.h"
#include "control/output.h"
#include "control/redis_router.h"
#include "dataplane/pegs.h"
#include "engine/runtime_snapshot.h"

namespace harrier {

struct CorrelatorOptions {
  // Stop once every sensor it heard (and every one of correlation.sensors)
  // has ended and the streams are read: an offline correlation.
  bool drain = false;
};

class Correlator final : public RecordAnnotator {
 public:
  Correlator(const Config& cfg, const RuntimeSnapshot& snap, AlertOutput& out,
             const CorrelatorOptions& opts);
  ~Correlator() override;

  // Until `stop` (or, draining, the end). False with *error when Redis
  // refuses what the correlator cannot do without (the consumer groups).
  bool run(const std::atomic<bool>& stop, std::string* error);

  void annotate(const Alert& a, nlohmann::ordered_json& harrier) override;

  PegValues pegs() const;
  std::string last_error() const { return error_; }
  // The detectors' counter tables, summed over the partitions held now.
  std::vector<PegValues> detector_pegs() const;

  static constexpr PegInfo kPegs[] = {
      {"entries", PegKind::kSum, "stream entries read (events, marks and ends)"},
      {"events", PegKind::kSum, "host events handed to the detectors"},
      {"duplicates", PegKind::kSum, "entries a sensor sent twice, dropped"},
      {"late_events", PegKind::kSum,
       "events that arrived below the watermark (their sensor lagged more than lateness)"},
      {"bad_entries", PegKind::kSum, "entries refused: undecodable events or missing fields"},
      {"claimed", PegKind::kSum, "pending entries taken over from a correlator that left"},
      {"claimed_gone", PegKind::kSum,
       "pending entries that were trimmed from the stream before they could be claimed"},
      {"acked", PegKind::kSum, "entries acknowledged"},
      {"alerts", PegKind::kSum, "incident alerts written"},
      {"suppressed", PegKind::kSum,
       "alerts a takeover raised again and did not write (written before the checkpoint)"},
      {"leases_lost", PegKind::kSum, "partitions whose lease another correlator took"},
      {"redis_errors", PegKind::kSum, "Redis commands that failed (connection or reply)"},
      {"partitions", PegKind::kNow, "partitions held"},
      {"buffered", PegKind::kNow, "events waiting for the watermark"},
      {"sensors", PegKind::kNow, "sensors heard from"},
  };

 private:
  struct Partition;
  struct Counters {
    Peg entries, events, duplicates, late, bad, claimed, claimed_gone, acked, alerts, suppressed,
        leases_lost, redis_errors, partitions, buffered, sensors;
  };

  bool ensure_connected();
  bool setup_groups(std::string* error);
  void manage_leases();
  bool renew_leases();
  void lost_lease(uint32_t p);
  void acquire(uint32_t p);
  void release(uint32_t p, bool lost);
  bool claim_pending(Partition& part);
  void read_new();
  void take_read(const struct redisReply* r);
  void take_entry(Partition& part, const struct redisReply* entry, bool claimed);
  void advance(Partition& part, bool final);
  void write_alerts(Partition& part, std::vector<Alert>& fused);
  void acknowledge(Partition& part, bool all);
  bool drained() const;
  uint16_t sensor_id(const std::string& name);
  uint64_t now_ms() const;
  void redis_failed(const std::string& what);

  const Config& cfg_;
  const CorrelationConfig& cc_;
  const RuntimeSnapshot& snap_;
  AlertOutput& out_;
  const CorrelatorOptions opts_;
  std::string consumer_;
  RedisRouter link_;
  std::vector<std::unique_ptr<Partition>> parts_;  // [partition]; null: not held
  std::vector<std::string> sensor_names_;          // by sensor id
  std::unordered_map<std::string, uint16_t> sensor_ids_;
  std::vector<uint16_t> expected_;  // ids of correlation.sensors
  Partition* writing_ = nullptr;    // whose alerts annotate() is asked about
  uint64_t last_lease_ms_ = 0;
  uint64_t last_renew_ms_ = 0;
  bool ever_connected_ = false;
  uint32_t share_ = 0;  // partitions this correlator may hold
  std::string error_;
  Counters c_;
};

}  // namespace harrier
