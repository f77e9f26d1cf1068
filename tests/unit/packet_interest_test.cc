// The packet dispatch: its tables follow the interests they were built
// from, the registry fits its masks, and a reload that moves a detector's
// port moves its packets with it.
#include <gtest/gtest.h>

#include "control/config.h"
#include "control/runtime_store.h"
#include "detectors/packet_interest.h"
#include "detectors/registry.h"

namespace harrier {
namespace {

struct Pkt {
  PacketView v;
  PacketCtx c;
  Pkt(L4Proto proto, uint16_t sport, uint16_t dport, uint16_t flags = 0) {
    v.proto = proto;
    v.sport = sport;
    v.dport = dport;
    v.tcp_flags = flags;
    c.v = &v;
    c.decoded = true;
  }
  Pkt(const Pkt&) = delete;
};

TEST(PacketDispatch, RegistryFitsTheMasks) {
  EXPECT_LE(detector_registry().size(), PacketDispatch::kMaxDetectors);
}

TEST(PacketDispatch, ClassesFactsFlagsAndPorts) {
  PacketDispatch d;
  std::string err;
  PacketInterest syn_to_home;  // bit 0
  syn_to_home.classes = class_bit(PacketClass::kTcp);
  syn_to_home.all_facts = packet_fact::kDstHome;
  syn_to_home.tcp_flags = [](uint16_t f) { return (f & 0x3F) == tcp_flag::kSyn; };
  ASSERT_TRUE(d.add(0, syn_to_home, &err));
  PacketInterest nbns;  // bit 1
  nbns.classes = class_bit(PacketClass::kUdp);
  nbns.any_facts = packet_fact::kSrcHome | packet_fact::kDstHome;
  nbns.ports = {137};
  ASSERT_TRUE(d.add(1, nbns, &err));
  PacketInterest errors;  // bit 2
  errors.classes = class_bit(PacketClass::kIcmpError);
  errors.no_facts = packet_fact::kSrcHome;
  ASSERT_TRUE(d.add(2, errors, &err));
  ASSERT_TRUE(d.add(3, PacketInterest::all(), &err));
  ASSERT_TRUE(d.add(4, PacketInterest::none(), &err));
  EXPECT_FALSE(d.add(PacketDispatch::kMaxDetectors, PacketInterest::all(), &err));
  EXPECT_NE(err.find("beyond"), std::string::npos) << err;

  Pkt syn(L4Proto::kTcp, 40000, 80, tcp_flag::kSyn);
  EXPECT_EQ(d.wants(syn.c), 0b01000u) << "not toward home";
  syn.c.dst_home = true;
  EXPECT_EQ(d.wants(syn.c), 0b01001u);
  syn.v.tcp_flags = tcp_flag::kSyn | tcp_flag::kNs | 0x800;  // high bits share the low byte's entry
  EXPECT_EQ(d.wants(syn.c), 0b01001u);
  syn.v.tcp_flags = tcp_flag::kSyn | tcp_flag::kAck;
  EXPECT_EQ(d.wants(syn.c), 0b01000u);

  Pkt query(L4Proto::kUdp, 5000, 137);
  EXPECT_EQ(d.wants(query.c), 0b01000u) << "no home side";
  query.c.src_home = true;  // either side will do
  EXPECT_EQ(d.wants(query.c), 0b01010u);
  Pkt answer(L4Proto::kUdp, 137, 5000);
  answer.c.dst_home = true;
  EXPECT_EQ(d.wants(answer.c), 0b01010u) << "the source port counts too";
  Pkt other(L4Proto::kUdp, 138, 5000);
  other.c.dst_home = true;
  EXPECT_EQ(d.wants(other.c), 0b01000u);
  Pkt fragment(L4Proto::kUdp, 137, 137);
  fragment.c.dst_home = true;
  fragment.v.is_later_fragment = true;  // no ports to look at
  EXPECT_EQ(d.wants(fragment.c), 0b01000u);

  Pkt icmp_error(L4Proto::kIcmp, 0, 0);
  icmp_error.v.quoted.present = true;
  icmp_error.c.dst_home = true;
  EXPECT_EQ(d.wants(icmp_error.c), 0b01100u);
  icmp_error.c.src_home = true;
  EXPECT_EQ(d.wants(icmp_error.c), 0b01000u);

  Pkt broken(L4Proto::kTcp, 1, 2, tcp_flag::kSyn);
  broken.c.decoded = false;
  broken.c.dst_home = true;
  EXPECT_EQ(PacketDispatch::class_of(broken.c), PacketClass::kUndecoded);
  EXPECT_EQ(d.wants(broken.c), 0b01000u);
}

TEST(PacketDispatch, SnapshotsFollowSettingsAndSwitches) {
  Config cfg = load_config("");
  RuntimeStore store(cfg, true);
  ASSERT_GE(find_detector("smtp-relay-probe"), 0);
  const uint32_t smtp = 1u << find_detector("smtp-relay-probe");
  const uint32_t horizontal = 1u << find_detector("horizontal-scan");
  Pkt to_2525(L4Proto::kTcp, 40000, 2525, tcp_flag::kAck | tcp_flag::kPsh);
  to_2525.c.dst_home = to_2525.c.from_initiator = true;
  Pkt to_25(L4Proto::kTcp, 40000, 25, tcp_flag::kAck | tcp_flag::kPsh);
  to_25.c.dst_home = to_25.c.from_initiator = true;
  const RuntimeSnapshot* first = store.current();
  EXPECT_TRUE(first->dispatch.wants(to_25.c) & smtp);
  EXPECT_FALSE(first->dispatch.wants(to_2525.c) & smtp);
  EXPECT_FALSE(first->dispatch.wants(to_25.c) & horizontal) << "it reads outcomes, not packets";

  Config next = cfg;
  apply_config_yaml(next, "detectors:\n  smtp-relay-probe: {port: 2525}\n", "test.yaml");
  std::vector<std::string> changes;
  std::string err;
  const RuntimeSnapshot* moved = store.prepare(next, &changes, &err);
  ASSERT_NE(moved, nullptr) << err;
  EXPECT_TRUE(moved->dispatch.wants(to_2525.c) & smtp);
  EXPECT_FALSE(moved->dispatch.wants(to_25.c) & smtp);

  apply_config_yaml(next, "detectors:\n  smtp-relay-probe: {enabled: false}\n", "test.yaml");
  const RuntimeSnapshot* off = store.prepare(next, &changes, &err);
  ASSERT_NE(off, nullptr) << err;
  EXPECT_FALSE(off->dispatch.wants(to_2525.c) & smtp) << "a switched-off detector gets nothing";
}

}  // namespace
}  // namespace harrier
