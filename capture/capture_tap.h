// The one interface through which the engine reaches capture. A batch meets
// capture at three points of its path: the decode stage picks the packets
// the recording keeps, each flow shard feeds its incident look-back ring,
// and the emit stage (one thread, input order) names an alert's incident
// capture and hands on the kept packets. CaptureSet (capture_set.h) is the
// implementation over the pcapng writer, the filter, the printer and the
// incident recorder; the engine includes nothing else of capture.
#pragma once

#include <cstdint>
#include <string_view>

#include "dataplane/packet.h"

struct rte_mbuf;

namespace harrier {

// A batch's packets as capture sees them (arrays of n).
struct TapBatch {
  rte_mbuf* const* mbufs = nullptr;
  const uint64_t* ts = nullptr;  // packet time, ns
  const PacketView* views = nullptr;
  const uint8_t* decode_err = nullptr;  // DecodeError per packet
  const uint16_t* flow_shard = nullptr;
  const uint8_t* keep = nullptr;  // 1: the recording keeps it (from select())
  uint32_t n = 0;
  uint64_t max_ts = 0;
  bool end_of_input = false;
};

// What the emit stage knows of an alert's incident.
struct IncidentRef {
  uint16_t detector = 0;
  std::string_view detector_id;
  uint64_t first_ts = 0;  // the incident's first packet
  uint64_t alert_ts = 0;
  IpAddr subject;
  IpAddr peer;              // what else tells incidents apart (the alert's first target), or unset
  bool first_alert = true;  // false: an update of an incident already alerted
};

class CaptureTap {
 public:
  virtual ~CaptureTap() = default;

  // Whether any packet is recorded or printed (select() and record() are
  // then called for every batch).
  virtual bool records_packets() const = 0;
  // Decode stage, any worker thread: sets keep[i] for the packets the
  // recording keeps; returns how many.
  virtual uint32_t select(rte_mbuf* const* mbufs, uint32_t n, uint8_t* keep) const noexcept = 0;
  // Flow stage, on flow shard `shard`'s thread, after the shard's packets.
  virtual void on_flow_batch(uint32_t shard, const TapBatch& b) noexcept = 0;
  // Emit stage: the incident capture id an alert names (0: none).
  virtual uint32_t on_alert(const IncidentRef& ref) = 0;
  // Emit stage: the batch's kept packets, in input order.
  virtual void record(const TapBatch& b) noexcept = 0;
};

}  // namespace harrier
