// The message that moves through the graph: a burst of mbufs with everything
// the stages attach to it. A fixed set of batches is allocated once, on the
// pipeline's socket, and recycled; rx waits for a free one, which bounds
// how many are in flight, so memory never grows with load.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <vector>

#include "dataplane/packet.h"
#include "detectors/alert.h"
#include "detectors/host_event.h"

struct rte_mbuf;

namespace harrier {

struct RuntimeSnapshot;

struct Batch {
  uint64_t seq = 0;          // position in the input; sequencers order on it
  uint64_t first_order = 0;  // global packet number of mbufs[0]
  uint64_t max_ts = 0;       // latest packet time in the batch (or heartbeat time)
  // The answer clock after this batch: connection attempts whose deadline
  // it passed are reported (see `clock`).
  uint64_t clock_end = 0;
  uint32_t n = 0;
  bool end_of_input = false;              // last batch: no packets, flush every deadline
  const RuntimeSnapshot* snap = nullptr;  // the configuration every stage uses for it
  std::atomic<uint32_t> pending{0};       // shards still working on the current stage

  // Per packet, filled by the rx and decode stages.
  rte_mbuf** mbufs = nullptr;
  uint64_t* ts = nullptr;
  // The answer clock at each packet: packet time that never steps back, so
  // an attempt's deadline (clock + answer grace) keeps attempt order on every
  // shard, for any worker count. A step back further than one grace (the
  // next file of a read, a capture from another day) starts a new timeline
  // ahead of the old one's last deadline: attempts of the old one come due
  // at once instead of waiting for the new one to catch up.
  uint64_t* clock = nullptr;
  PacketView* views = nullptr;
  uint8_t* decode_err = nullptr;
  uint16_t* flow_shard = nullptr;
  uint8_t* capture = nullptr;  // 1: the capture filter keeps this packet
  uint32_t n_captured = 0;     // how many it keeps

  // Flow stage -> host stage: events[s] holds flow shard s's events in
  // packet order, each naming the host shard that owns it.
  HostEvent** events = nullptr;
  uint32_t* n_events = nullptr;
  uint32_t event_cap = 0;
  // Connection outcomes whose grace ran out with this batch, per flow shard,
  // in attempt order; the host stage takes them after `events`. A list that
  // keeps its capacity: after a pause in the traffic a whole burst of
  // attempts comes due at once. Live, at most outcome_limit per shard and
  // batch (the rest wait for the next batch); offline, all of them.
  std::vector<HostEvent>* outcomes = nullptr;
  uint32_t outcome_limit = 0;

  // Alerts raised by each flow shard, then each host shard: alert_cap fixed
  // slots each, then the slot's spill list (AlertSink), emptied by emit.
  Alert** alerts = nullptr;  // [2 * shards][alert_cap]
  uint32_t* n_alerts = nullptr;
  uint32_t alert_cap = 0;
  std::deque<Alert>* spill = nullptr;  // [2 * shards]
  size_t spill_limit = 0;
};

}  // namespace harrier
