// icmp-unreach-backscatter (seed detect 9): ICMP destination-unreachable to a
// home host quoting a packet it never sent (no matching flow). Unreachables
// answering the home host's own traffic find their flow and stay quiet.
// The engine is shared with icmp-ttl-backscatter: icmp_backscatter.h.
#include "detectors/icmp_backscatter.h"

namespace harrier {
namespace {

std::unique_ptr<Detector> make(const DetectorDescriptor& d, const DetectorConfig& c) {
  return std::make_unique<icmp_backscatter::Detector>(d, c, icmp_backscatter::Which::kUnreachable);
}

void render(const Alert& a, AlertText& t) {
  icmp_backscatter::render(a, t, "unreachable");
}

}  // namespace

extern const DetectorDescriptor kIcmpUnreachBackscatter = {
    "icmp-unreach-backscatter",
    1000009,
    DetectorKind::kHostBehaviour,
    "Misc activity",
    "ICMP unreachable to a home host quoting a packet it never sent (its address was spoofed)",
    2,
    icmp_backscatter::kParams,
    make,
    render,
    {"A third party sent packets with the home host's address as their source: as decoys "
     "among a real scanner's probes, or as the forged source of a flood. A router that could "
     "not deliver one of them reports it to the apparent sender, which is us.",
     "The ICMP error itself is probably genuine (a router answering); the packet it quotes was "
     "certainly spoofed, since the home host never sent it. This is evidence that someone is "
     "spoofing us, not that the router attacks us.",
     "Nothing to block on the home host; make sure egress filtering stops our own addresses "
     "being spoofed from inside, and watch the quoted destinations: they are the spoofer's "
     "real targets."},
    /*incident_is_victim=*/true,
    fusion_rank::kShape};

}  // namespace harrier
