// Capture as the engine sees it (CaptureTap): recording to pcapng through
// a filter, the tcpdump-style printer, and incident captures, each optional.
// The parts stay owned by the command that made them (it reports on each);
// this only routes a batch to them.
#pragma once

#include "capture/capture_tap.h"

namespace harrier {

class IncidentRecorder;
class PacketFilter;
class PacketPrinter;
class PcapngWriter;
class PrintWriter;

struct CaptureParts {
  const PacketFilter* filter = nullptr;  // none: keep every packet
  PcapngWriter* writer = nullptr;        // --write / capture.write
  PacketPrinter* printer = nullptr;      // --print, with its output
  PrintWriter* print_to = nullptr;
  IncidentRecorder* incidents = nullptr;
};

class CaptureSet final : public CaptureTap {
 public:
  explicit CaptureSet(const CaptureParts& parts) : p_(parts) {}

  bool records_packets() const override { return p_.writer || p_.printer; }
  uint32_t select(rte_mbuf* const* mbufs, uint32_t n, uint8_t* keep) const noexcept override;
  void on_flow_batch(uint32_t shard, const TapBatch& b) noexcept override;
  uint32_t on_alert(const IncidentRef& ref) override;
  void record(const TapBatch& b) noexcept override;

 private:
  CaptureParts p_;
};

}  // namespace harrier
