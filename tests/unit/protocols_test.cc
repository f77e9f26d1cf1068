// The detectors' protocol parsers (NBNS, SNMP BER) on real messages and on
// hostile ones: every truncation, bad length and bad encoding must be refused
// without reading past the buffer (run under ASan in CI's debug build too).
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "detectors/protocols/nbns.h"
#include "detectors/protocols/snmp.h"

using namespace harrier;

namespace {

using Bytes = std::vector<uint8_t>;

// Byte by byte: GCC 12's -Warray-bounds misreads vector::insert of small
// vectors at -O3 (a known false positive), and CI builds with -Werror.
void append(Bytes& out, const Bytes& more) {
  for (uint8_t b : more)
    out.push_back(b);
}

Bytes nb_name(const std::string& name, uint8_t suffix, bool wildcard = false) {
  std::string raw = name.substr(0, 15);
  raw.resize(15, wildcard ? '\0' : ' ');
  raw += char(suffix);
  Bytes out{32};
  for (unsigned char c : raw) {
    out.push_back(uint8_t('A' + (c >> 4)));
    out.push_back(uint8_t('A' + (c & 0x0F)));
  }
  out.push_back(0);
  return out;
}

Bytes nbns_msg(uint16_t flags, uint16_t qd, uint16_t an, const Bytes& name, uint16_t type) {
  Bytes m{0x80, 0x01, uint8_t(flags >> 8), uint8_t(flags), 0, uint8_t(qd), 0, uint8_t(an), 0, 0,
          0,    0};
  append(m, name);
  append(m, {uint8_t(type >> 8), uint8_t(type), 0, 1});
  return m;
}

// A BER TLV with a short or long-form length.
Bytes tlv(uint8_t tag, const Bytes& body) {
  Bytes out{tag};
  if (body.size() < 128) {
    out.push_back(uint8_t(body.size()));
  } else {
    out.push_back(0x82);
    out.push_back(uint8_t(body.size() >> 8));
    out.push_back(uint8_t(body.size()));
  }
  append(out, body);
  return out;
}

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts)
    append(out, p);
  return out;
}

Bytes snmp_msg(uint8_t version, const std::string& community, uint8_t pdu) {
  const Bytes varbind = tlv(0x30, cat({tlv(0x06, {0x2b, 6, 1, 2, 1, 1, 1, 0}), tlv(0x05, {})}));
  const Bytes body =
      cat({tlv(0x02, {0x1a, 0x2b}), tlv(0x02, {0}), tlv(0x02, {0}), tlv(0x30, varbind)});
  return tlv(0x30, cat({tlv(0x02, {version}), tlv(0x04, Bytes(community.begin(), community.end())),
                        tlv(pdu, body)}));
}

}  // namespace

TEST(Nbns, NameQueryOfTheSeed) {
  const Bytes m = nbns_msg(0x0110, 1, 0, nb_name("WORKGROUP", 0x00), nbns::kTypeNb);
  nbns::Message out;
  ASSERT_TRUE(nbns::parse(m.data(), uint32_t(m.size()), out));
  EXPECT_FALSE(out.response);
  EXPECT_EQ(out.opcode, 0);
  EXPECT_TRUE(out.broadcast);
  EXPECT_EQ(out.qtype, nbns::kTypeNb);
  EXPECT_EQ(std::string(out.name, 9), "WORKGROUP");
  EXPECT_FALSE(out.wildcard);
}

TEST(Nbns, WildcardNodeStatus) {
  const Bytes m = nbns_msg(0x0000, 1, 0, nb_name("*", 0x00, true), nbns::kTypeNbstat);
  nbns::Message out;
  ASSERT_TRUE(nbns::parse(m.data(), uint32_t(m.size()), out));
  EXPECT_EQ(out.qtype, nbns::kTypeNbstat);
  EXPECT_TRUE(out.wildcard);
  // '*' padded with spaces is a name, not the wildcard.
  const Bytes spaced = nbns_msg(0x0000, 1, 0, nb_name("*", 0x00, false), nbns::kTypeNbstat);
  ASSERT_TRUE(nbns::parse(spaced.data(), uint32_t(spaced.size()), out));
  EXPECT_FALSE(out.wildcard);
}

TEST(Nbns, RefusesHostileInput) {
  const Bytes good = nbns_msg(0x0110, 1, 0, nb_name("FILESRV", 0x20), nbns::kTypeNb);
  nbns::Message out;
  for (size_t n = 0; n < good.size(); ++n)
    EXPECT_FALSE(nbns::parse(good.data(), uint32_t(n), out)) << "truncated at " << n;
  EXPECT_FALSE(nbns::parse(nullptr, 100, out));
  Bytes bad = good;
  bad[12] = 31;  // name length must be 32
  EXPECT_FALSE(nbns::parse(bad.data(), uint32_t(bad.size()), out));
  bad = good;
  bad[20] = 'Z';  // not a half-byte letter
  EXPECT_FALSE(nbns::parse(bad.data(), uint32_t(bad.size()), out));
  bad = good;
  bad[5] = 0;  // a query without a question
  EXPECT_FALSE(nbns::parse(bad.data(), uint32_t(bad.size()), out));
  bad = good;
  bad[45] = 0xC0;  // a compression pointer where the scope would be
  EXPECT_FALSE(nbns::parse(bad.data(), uint32_t(bad.size()), out));
  bad = good;
  bad[45] = 60;  // a scope label running past the end
  EXPECT_FALSE(nbns::parse(bad.data(), uint32_t(bad.size()), out));
}

TEST(Snmp, V1PublicGet) {
  const Bytes m = snmp_msg(0, "public", 0xA0);
  snmp::Message out;
  ASSERT_TRUE(snmp::parse(m.data(), uint32_t(m.size()), out));
  EXPECT_EQ(out.version, 0);
  EXPECT_STREQ(out.community, "public");
  EXPECT_EQ(out.community_len, 6u);
  EXPECT_EQ(out.pdu, 0xA0);
  EXPECT_STREQ(snmp::pdu_name(out.pdu), "GetRequest");
}

TEST(Snmp, V2cSetWithLongCommunityAndLongFormLengths) {
  const std::string community(200, 'x');
  const Bytes m = snmp_msg(1, community, 0xA3);
  snmp::Message out;
  ASSERT_TRUE(snmp::parse(m.data(), uint32_t(m.size()), out));
  EXPECT_EQ(out.version, 1);
  EXPECT_EQ(out.community_len, 200u);
  EXPECT_EQ(std::strlen(out.community), sizeof(out.community) - 1);  // truncated, terminated
  EXPECT_EQ(out.pdu, 0xA3);
}

TEST(Snmp, RefusesHostileInput) {
  const Bytes good = snmp_msg(0, "public", 0xA0);
  snmp::Message out;
  // The PDU tag sits 2 + 3 + 8 bytes in: shorter than that cannot be a message.
  for (size_t n = 0; n < 14; ++n)
    EXPECT_FALSE(snmp::parse(good.data(), uint32_t(n), out)) << "truncated at " << n;
  Bytes bad = good;
  bad[0] = 0x31;  // not a SEQUENCE
  EXPECT_FALSE(snmp::parse(bad.data(), uint32_t(bad.size()), out));
  bad = good;
  bad[1] = 0x84;  // a 4-byte length claiming gigabytes
  EXPECT_FALSE(snmp::parse(bad.data(), uint32_t(bad.size()), out));
  bad = good;
  bad[1] = 0x80;  // indefinite length: not allowed in SNMP's BER
  EXPECT_FALSE(snmp::parse(bad.data(), uint32_t(bad.size()), out));
  bad = good;
  bad[6] = 0x7F;  // community length past the end
  EXPECT_FALSE(snmp::parse(bad.data(), uint32_t(bad.size()), out));
  const Bytes not_pdu = snmp_msg(0, "public", 0x30);
  EXPECT_FALSE(snmp::parse(not_pdu.data(), uint32_t(not_pdu.size()), out));
}

TEST(Protocols, RandomBytesNeverCrash) {
  std::mt19937 rng(1);
  nbns::Message n;
  snmp::Message s;
  std::vector<uint8_t> buf(600);
  for (int i = 0; i < 20000; ++i) {
    const uint32_t len = rng() % buf.size();
    for (uint32_t j = 0; j < len; ++j)
      buf[j] = uint8_t(rng());
    // Bias towards plausible starts so the parsers get past their first checks.
    if (len > 2 && i % 2) buf[0] = 0x30;
    if (len > 12 && i % 3 == 0) buf[12] = 32;
    (void)nbns::parse(buf.data(), len, n);
    (void)snmp::parse(buf.data(), len, s);
  }
  SUCCEED();
}
