// icmp-ttl-backscatter (seed detect 10): ICMP time-exceeded to a home host
// quoting a packet it never sent, with the inner TTL and protocol as
// evidence. Time-exceeded answering the home host's own traceroute finds its
// flow and stays quiet. Engine shared with icmp-unreach-backscatter.
#include "detectors/icmp_backscatter.h"

namespace harrier {
namespace {

std::unique_ptr<Detector> make(const DetectorDescriptor& d, const DetectorConfig& c) {
  return std::make_unique<icmp_backscatter::Detector>(d, c, icmp_backscatter::Which::kTimeExceeded);
}

void render(const Alert& a, AlertText& t) {
  icmp_backscatter::render(a, t, "time-exceeded");
}

}  // namespace

extern const DetectorDescriptor kIcmpTtlBackscatter = {
    "icmp-ttl-backscatter",
    1000010,
    DetectorKind::kHostBehaviour,
    "Misc activity",
    "ICMP time-exceeded to a home host quoting a packet it never sent (its address was spoofed)",
    2,
    icmp_backscatter::kParams,
    make,
    render,
    {"Packets forged with the home host's address as source ran out of TTL on the way; the "
     "router where they expired reports it to the apparent sender. A quoted TTL of 1 with a "
     "protocol the host never used (the seed's '[!tcp]') marks a crafted packet, often a "
     "spoofed traceroute-style probe or a decoy scan.",
     "The error is genuine; the quoted packet was spoofed with our address (no matching flow "
     "left the home host).",
     "No action on the host itself; keep egress anti-spoofing filters in place and note the "
     "quoted destinations as the spoofer's targets."},
    /*incident_is_victim=*/true,
    fusion_rank::kShape};

}  // namespace harrier
