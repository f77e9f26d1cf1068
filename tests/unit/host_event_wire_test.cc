// The host-event wire codec (detectors/host_event_wire.h): events survive a
// round trip field for field, and a bad blob (truncated, a field the host
// stage does not accept) is refused whole, named, and leaves `out` as it was.
#include <gtest/gtest.h>

#include <cstring>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "detectors/host_event_wire.h"

using namespace harrier;

namespace {

constexpr uint16_t kDetectors = 16;

// Byte offsets in a blob of one record with IPv4 source and destination.
constexpr size_t kSrcFamilyAt = 1 + 8 + 8;
constexpr size_t kDstFamilyAt = kSrcFamilyAt + 5;
constexpr size_t kKindAt = kDstFamilyAt + 5 + 6 * 2 + 1;
constexpr size_t kDetailLengthAt = kKindAt + 4;
// A record with IPv4 addresses and no detail: ts, order, two addresses, six
// 16-bit and five 8-bit fields, the detail length.
constexpr size_t kV4RecordNoDetail = 8 + 8 + 2 * 5 + 6 * 2 + 5 + 1;
static_assert(kV4RecordNoDetail == kDetailLengthAt);  // the blob's version byte comes first

IpAddr v6(uint8_t seed) {
  uint8_t b[16];
  for (int i = 0; i < 16; ++i)
    b[i] = uint8_t(seed + i * 17);
  return IpAddr::v6(b);
}

HostEvent v4_outcome(HostEventKind kind) {
  HostEvent e;
  e.ts = 1700000000123456789ull;
  e.order = 0x0102030405060708ull;
  e.src = IpAddr::v4(0x0100000aU);  // 10.0.0.1
  e.dst = IpAddr::v4(0x0164a8c0U);  // 192.168.100.1
  e.sport = 40000;
  e.dport = 445;
  e.tcp_flags = tcp_flag::kSyn | tcp_flag::kNs;
  e.proto = 6;
  e.kind = kind;
  e.flags = host_event_flag::kUnexpected | host_event_flag::kSrcHome;
  e.code = 0;
  e.ttl = 64;
  e.key_slot = 0xBEEF;
  e.detector = 0;
  e.ip_id = 0xFFFF;
  return e;
}

HostEvent v6_detector(uint16_t detector) {
  HostEvent e;
  e.ts = ~0ull;
  e.order = 7;
  e.src = v6(0x20);
  e.dst = v6(0xfe);
  e.sport = 137;
  e.dport = 65535;
  e.proto = 17;
  e.kind = HostEventKind::kDetector;
  e.code = 3;
  e.ttl = 255;
  e.key_slot = 1;
  e.detector = detector;
  e.ip_id = 0x1234;
  for (size_t i = 0; i < e.detail.kBytes; ++i)
    e.detail.bytes[i] = uint8_t(0xA0 + i);
  e.detail.bytes[5] = 0;  // a zero inside a detail travels too
  return e;
}

// Every field but `seq`, which the decoder numbers.
void expect_same(const HostEvent& a, const HostEvent& b) {
  EXPECT_EQ(a.ts, b.ts);
  EXPECT_EQ(a.order, b.order);
  EXPECT_TRUE(a.src == b.src);
  EXPECT_TRUE(a.dst == b.dst);
  EXPECT_EQ(a.sport, b.sport);
  EXPECT_EQ(a.dport, b.dport);
  EXPECT_EQ(a.tcp_flags, b.tcp_flags);
  EXPECT_EQ(a.proto, b.proto);
  EXPECT_EQ(int(a.kind), int(b.kind));
  EXPECT_EQ(a.flags, b.flags);
  EXPECT_EQ(a.code, b.code);
  EXPECT_EQ(a.ttl, b.ttl);
  EXPECT_EQ(a.key_slot, b.key_slot);
  EXPECT_EQ(a.detector, b.detector);
  EXPECT_EQ(a.ip_id, b.ip_id);
  EXPECT_EQ(0, std::memcmp(a.detail.bytes, b.detail.bytes, a.detail.kBytes));
}

std::string blob_of(const std::vector<HostEvent>& events) {
  std::string b;
  for (const HostEvent& e : events)
    append_wire_event(b, e);
  return b;
}

bool contains(const std::string& s, std::string_view part) {
  return s.find(part) != std::string::npos;
}

// Decodes `blob`, which must be refused with an error that mentions every
// one of `parts`, into an `out` that holds one event beforehand and must
// hold exactly it afterwards.
void expect_refused(std::string_view blob, std::initializer_list<std::string_view> parts,
                    uint16_t n_detectors = kDetectors) {
  const HostEvent before = v4_outcome(HostEventKind::kOpen);
  std::vector<HostEvent> out{before};
  out[0].seq = 99;
  std::string error;
  EXPECT_FALSE(decode_wire_events(blob, n_detectors, out, &error));
  ASSERT_EQ(out.size(), 1u);
  expect_same(out[0], before);
  EXPECT_EQ(out[0].seq, 99u);
  for (std::string_view p : parts)
    EXPECT_TRUE(contains(error, p)) << "error \"" << error << "\" does not mention \"" << p
                                    << "\"";
}

}  // namespace

TEST(HostEventWire, Ipv4OutcomeRoundTrips) {
  const HostEvent e = v4_outcome(HostEventKind::kUnanswered);
  const std::string blob = blob_of({e});
  ASSERT_FALSE(blob.empty());
  EXPECT_EQ(uint8_t(blob[0]), kEventWireVersion);
  // Four bytes per IPv4 address, and no detail: it is all zeros.
  EXPECT_EQ(blob.size(), 1 + kV4RecordNoDetail);
  EXPECT_EQ(uint8_t(blob[kDetailLengthAt]), 0);
  std::vector<HostEvent> out;
  std::string error;
  ASSERT_TRUE(decode_wire_events(blob, kDetectors, out, &error)) << error;
  ASSERT_EQ(out.size(), 1u);
  expect_same(out[0], e);
  EXPECT_EQ(out[0].seq, 0u);
}

TEST(HostEventWire, Ipv6DetectorEventRoundTripsWithItsDetail) {
  const HostEvent e = v6_detector(kDetectors - 1);
  const std::string blob = blob_of({e});
  // The largest record there is.
  EXPECT_EQ(blob.size(), 1 + kEventWireMaxRecord);
  std::vector<HostEvent> out;
  std::string error;
  ASSERT_TRUE(decode_wire_events(blob, kDetectors, out, &error)) << error;
  ASSERT_EQ(out.size(), 1u);
  expect_same(out[0], e);
  EXPECT_EQ(out[0].detail.bytes[0], 0xA0);
  EXPECT_EQ(out[0].detail.bytes[5], 0);
  EXPECT_EQ(out[0].detail.bytes[31], uint8_t(0xA0 + 31));
}

TEST(HostEventWire, EveryOutcomeKindRoundTripsWithoutDetail) {
  for (HostEventKind kind :
       {HostEventKind::kUnanswered, HostEventKind::kRefused, HostEventKind::kOpen}) {
    HostEvent e = v4_outcome(kind);
    e.dst = v6(0x33);  // an IPv4 prober of an IPv6 target is the codec's business only
    const std::string blob = blob_of({e});
    EXPECT_EQ(blob.size(), 1 + kV4RecordNoDetail + 12) << int(kind);
    std::vector<HostEvent> out;
    std::string error;
    ASSERT_TRUE(decode_wire_events(blob, kDetectors, out, &error)) << error;
    ASSERT_EQ(out.size(), 1u);
    expect_same(out[0], e);
  }
}

TEST(HostEventWire, DetectorEventWithZeroDetailSendsNone) {
  HostEvent e = v4_outcome(HostEventKind::kDetector);
  e.detector = 2;
  e.code = 9;
  const std::string blob = blob_of({e});
  EXPECT_EQ(blob.size(), 1 + kV4RecordNoDetail);
  std::vector<HostEvent> out;
  std::string error;
  ASSERT_TRUE(decode_wire_events(blob, kDetectors, out, &error)) << error;
  ASSERT_EQ(out.size(), 1u);
  expect_same(out[0], e);
}

TEST(HostEventWire, SeveralEventsKeepTheirOrderAndAreNumbered) {
  std::vector<HostEvent> events = {v4_outcome(HostEventKind::kUnanswered), v6_detector(0),
                                   v4_outcome(HostEventKind::kRefused), v6_detector(5),
                                   v4_outcome(HostEventKind::kOpen)};
  for (size_t i = 0; i < events.size(); ++i)
    events[i].order = 1000 + i;
  const std::string blob = blob_of(events);
  EXPECT_EQ(uint8_t(blob[0]), kEventWireVersion);  // one version byte, at the start only
  EXPECT_EQ(blob.size(), 1 + 3 * kV4RecordNoDetail + 2 * kEventWireMaxRecord);
  // Appended after what `out` already holds, numbered from 0 all the same.
  std::vector<HostEvent> out{v4_outcome(HostEventKind::kOpen)};
  std::string error;
  ASSERT_TRUE(decode_wire_events(blob, kDetectors, out, &error)) << error;
  ASSERT_EQ(out.size(), events.size() + 1);
  for (size_t i = 0; i < events.size(); ++i) {
    SCOPED_TRACE(i);
    expect_same(out[i + 1], events[i]);
    EXPECT_EQ(out[i + 1].seq, uint32_t(i));
  }
}

TEST(HostEventWire, VersionByteAloneIsAnEmptyBlob) {
  std::vector<HostEvent> out;
  std::string error;
  EXPECT_TRUE(decode_wire_events(std::string(1, char(kEventWireVersion)), kDetectors, out, &error))
      << error;
  EXPECT_TRUE(out.empty());
}

TEST(HostEventWire, RefusesAnEmptyBlob) { expect_refused("", {"empty"}); }

TEST(HostEventWire, RefusesAnotherVersion) {
  std::string blob = blob_of({v4_outcome(HostEventKind::kRefused)});
  blob[0] = char(kEventWireVersion + 1);
  expect_refused(blob, {"version " + std::to_string(kEventWireVersion + 1)});
  blob[0] = 0;
  expect_refused(blob, {"version 0"});
}

TEST(HostEventWire, RefusesEveryTruncation) {
  for (const HostEvent& e : {v4_outcome(HostEventKind::kRefused), v6_detector(1)}) {
    const std::string blob = blob_of({e});
    // A cut after the version byte leaves a valid empty blob; any later
    // cut ends inside the record.
    for (size_t n = 2; n < blob.size(); ++n) {
      SCOPED_TRACE(n);
      expect_refused(std::string_view(blob).substr(0, n), {"byte 1: ", "truncated in "});
    }
  }
  // A cut inside the second record names that record's offset; a cut
  // between records leaves a valid blob of the first.
  const std::string first = blob_of({v4_outcome(HostEventKind::kOpen)});
  const std::string blob = blob_of({v4_outcome(HostEventKind::kOpen), v6_detector(1)});
  for (size_t n = first.size() + 1; n < blob.size(); ++n) {
    SCOPED_TRACE(n);
    expect_refused(std::string_view(blob).substr(0, n),
                   {"byte " + std::to_string(first.size()) + ": ", "truncated in "});
  }
  std::vector<HostEvent> out;
  std::string error;
  EXPECT_TRUE(decode_wire_events(std::string_view(blob).substr(0, first.size()), kDetectors, out,
                                 &error))
      << error;
  EXPECT_EQ(out.size(), 1u);
}

TEST(HostEventWire, TruncationNamesTheField) {
  const std::string blob = blob_of({v6_detector(1)});
  expect_refused(std::string_view(blob).substr(0, 5), {"truncated in ts"});
  expect_refused(std::string_view(blob).substr(0, kSrcFamilyAt + 3), {"truncated in src"});
  expect_refused(std::string_view(blob).substr(0, blob.size() - 1), {"truncated in detail"});
}

TEST(HostEventWire, RefusesABadAddressFamily) {
  std::string blob = blob_of({v4_outcome(HostEventKind::kRefused)});
  blob[kSrcFamilyAt] = 5;
  expect_refused(blob, {"byte 1: ", "src", "address family 5"});
  blob = blob_of({v4_outcome(HostEventKind::kRefused)});
  blob[kDstFamilyAt] = char(0xFF);
  expect_refused(blob, {"dst", "address family 255"});
}

TEST(HostEventWire, RefusesAnUnknownKind) {
  std::string blob = blob_of({v4_outcome(HostEventKind::kRefused)});
  ASSERT_EQ(uint8_t(blob[kKindAt]), uint8_t(HostEventKind::kRefused));
  blob[kKindAt] = char(uint8_t(HostEventKind::kDetector) + 1);
  expect_refused(blob, {"event kind " + std::to_string(int(HostEventKind::kDetector) + 1)});
  blob[kKindAt] = char(0xFF);
  expect_refused(blob, {"event kind 255"});
}

TEST(HostEventWire, RefusesADetectorThisBuildDoesNotHave) {
  expect_refused(blob_of({v6_detector(kDetectors)}), {"detector 16", "this build has 16"});
  expect_refused(blob_of({v6_detector(0xFFFF)}), {"detector 65535"});
  expect_refused(blob_of({v6_detector(3)}), {"detector 3", "this build has 3"}, 3);
  std::vector<HostEvent> out;
  std::string error;
  EXPECT_TRUE(decode_wire_events(blob_of({v6_detector(2)}), 3, out, &error)) << error;
  // In the second record, the error says where it starts.
  const std::string first = blob_of({v6_detector(0)});
  expect_refused(blob_of({v6_detector(0), v6_detector(kDetectors)}),
                 {"byte " + std::to_string(first.size()) + ": ", "detector 16"});
}

TEST(HostEventWire, RefusesABadDetailLength) {
  std::string blob = blob_of({v4_outcome(HostEventKind::kRefused)});
  ASSERT_EQ(uint8_t(blob[kDetailLengthAt]), 0);
  blob[kDetailLengthAt] = 5;
  expect_refused(blob, {"detail of 5 bytes", "want 0 or 32"});
  blob[kDetailLengthAt] = 33;
  blob.append(33, 'x');
  expect_refused(blob, {"detail of 33 bytes"});
  // 31 bytes where 32 are due is not a short detail but a bad length.
  blob = blob_of({v6_detector(1)});
  blob[blob.size() - 33] = 31;
  blob.pop_back();
  expect_refused(blob, {"detail of 31 bytes"});
}

TEST(HostEventWire, RefusesAnEventWithoutSourceOrTarget) {
  HostEvent e = v4_outcome(HostEventKind::kUnanswered);
  e.src = IpAddr{};
  const std::string blob = blob_of({e});
  EXPECT_EQ(uint8_t(blob[kSrcFamilyAt]), 0);
  expect_refused(blob, {"without a source address"});
  // Every event a sensor raises has a target; detectors list it
  // (fuzz_correlate found horizontal-scan's alert without one).
  e = v4_outcome(HostEventKind::kUnanswered);
  e.dst = IpAddr{};
  expect_refused(blob_of({e}), {"without a target address"});
}
