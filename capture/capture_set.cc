#include "capture/capture_set.h"

#include <string>

#include <rte_mbuf.h>

#include "capture/incident_recorder.h"
#include "capture/packet_filter.h"
#include "capture/packet_printer.h"
#include "capture/pcapng_writer.h"
#include "capture/print_writer.h"

namespace harrier {

uint32_t CaptureSet::select(rte_mbuf* const* mbufs, uint32_t n, uint8_t* keep) const noexcept {
  uint32_t kept = 0;
  for (uint32_t i = 0; i < n; ++i) {
    keep[i] = !p_.filter || p_.filter->matches(mbufs[i]);
    kept += keep[i];
  }
  return kept;
}

void CaptureSet::on_flow_batch(uint32_t shard, const TapBatch& b) noexcept {
  if (p_.incidents)
    p_.incidents->on_batch(shard, b.mbufs, b.ts, b.views, b.flow_shard, b.n, b.max_ts,
                           b.end_of_input);
}

uint32_t CaptureSet::on_alert(const IncidentRef& ref) {
  return p_.incidents ? p_.incidents->on_alert(ref) : 0;
}

void CaptureSet::record(const TapBatch& b) noexcept {
  if (p_.writer)
    for (uint32_t i = 0; i < b.n; ++i)
      if (b.keep[i]) p_.writer->submit(b.mbufs[i], b.ts[i]);
  if (p_.printer) {
    std::string lines;
    uint32_t printed = 0;
    for (uint32_t i = 0; i < b.n; ++i)
      if (b.keep[i]) {
        p_.printer->print(b.views[i], DecodeError(b.decode_err[i]),
                          rte_pktmbuf_mtod(b.mbufs[i], const uint8_t*), b.mbufs[i]->data_len,
                          b.ts[i], lines);
        ++printed;
      }
    p_.print_to->push(std::move(lines), printed);
  }
}

}  // namespace harrier
