// detectors/protocols/smtp: the reply parser, the end-of-DATA finder, the
// command ring and the Hyperscan command matcher, fed hostile input on purpose.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "detectors/protocols/smtp.h"

using namespace harrier;
using namespace harrier::smtp;

namespace {

std::vector<uint16_t> replies(const std::string& in, size_t step = 0) {
  ReplyParser p;
  std::vector<uint16_t> out;
  auto cb = [&](uint16_t c) { out.push_back(c); };
  const auto* d = reinterpret_cast<const uint8_t*>(in.data());
  if (!step) step = in.size() ? in.size() : 1;
  for (size_t i = 0; i < in.size(); i += step)
    p.feed(d + i, std::min(step, in.size() - i), cb);
  return out;
}

}  // namespace

TEST(SmtpReply, SingleAndMultiLine) {
  EXPECT_EQ(replies("220 mx ESMTP\r\n"), std::vector<uint16_t>{220});
  const std::string ehlo = "250-mx.home\r\n250-SIZE 1000\r\n250-8BITMIME\r\n250 HELP\r\n";
  EXPECT_EQ(replies(ehlo), std::vector<uint16_t>{250});
  EXPECT_EQ(replies("553 5.7.1 <x>: Relay access denied\r\n550 no\r\n"),
            (std::vector<uint16_t>{553, 550}));
  EXPECT_EQ(replies("250\r\n"), std::vector<uint16_t>{250});  // a bare code
  EXPECT_EQ(replies("354 go ahead\n"), std::vector<uint16_t>{354});
}

TEST(SmtpReply, SplitAnywhere) {
  const std::string in = "220 mx\r\n250-a\r\n250 b\r\n553 no\r\n";
  for (size_t step = 1; step < in.size(); ++step)
    EXPECT_EQ(replies(in, step), (std::vector<uint16_t>{220, 250, 553})) << step;
}

TEST(SmtpReply, BadCodesAndHostileLines) {
  EXPECT_TRUE(replies("hello\r\n").empty());
  EXPECT_TRUE(replies("999 no\r\n").empty());   // first digit 2-5
  EXPECT_TRUE(replies("260 no\r\n").empty());   // second digit 0-5
  EXPECT_TRUE(replies("25 no\r\n").empty());    // two digits
  EXPECT_TRUE(replies("2500 no\r\n").empty());  // four digits
  EXPECT_TRUE(replies("250x no\r\n").empty());
  EXPECT_TRUE(replies("250 no CRLF ever").empty());
  EXPECT_TRUE(replies(std::string(100000, '2')).empty());
  // A long line is skipped whole, and the next line still parses.
  EXPECT_EQ(replies("250 " + std::string(70000, 'x') + "\r\n421 bye\r\n"),
            (std::vector<uint16_t>{250, 421}));
  EXPECT_EQ(replies(std::string("\0\0\0\r\n554 x\r\n", 12)), std::vector<uint16_t>{554});
  ReplyParser p;
  p.skip_line();  // after lost bytes: the rest of this line is not a reply
  std::vector<uint16_t> out;
  const std::string in = "50 tail\r\n250 ok\r\n";
  p.feed(reinterpret_cast<const uint8_t*>(in.data()), in.size(),
         [&](uint16_t c) { out.push_back(c); });
  EXPECT_EQ(out, std::vector<uint16_t>{250});
}

TEST(SmtpBody, FindsTheFinalDot) {
  auto feed = [](BodyEnd& b, const std::string& s) {
    return b.feed(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  };
  BodyEnd b;
  EXPECT_EQ(feed(b, "Subject: x\r\n\r\nhello\r\n.\r\nQUIT\r\n"), 24u);
  b = BodyEnd{};
  EXPECT_EQ(feed(b, ".\r\n"), 3u);  // an empty message
  b = BodyEnd{};
  EXPECT_EQ(feed(b, "..stuffed\r\n. not the end\r\n"), SIZE_MAX);
  EXPECT_EQ(feed(b, ".\nMAIL"), 2u);  // bare LF
  // Split at every byte.
  const std::string body = "a\r\n..b\r\n.\r\nRSET\r\n";
  b = BodyEnd{};
  size_t end = SIZE_MAX;
  for (size_t i = 0; i < body.size() && end == SIZE_MAX; ++i)
    if (feed(b, body.substr(i, 1)) != SIZE_MAX) end = i + 1;
  EXPECT_EQ(end, 11u);
  b = BodyEnd{};
  EXPECT_EQ(feed(b, std::string(100000, 'x')), SIZE_MAX);  // no line end at all
}

TEST(SmtpRing, PairsInOrderAndCountsOverflow) {
  CommandRing<4> r;
  PendingCommand c;
  EXPECT_FALSE(r.pop(&c));  // an unsolicited reply
  for (int i = 0; i < 6; ++i)
    r.push({Verb::kRcpt, uint16_t(i)});
  EXPECT_EQ(r.untracked, 2);
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(r.pop(&c));
    EXPECT_EQ(c.tricks, i);
  }
  EXPECT_TRUE(r.push({Verb::kMail, 9}) == false);  // still behind the counted ones
  EXPECT_FALSE(r.pop(&c));
  EXPECT_FALSE(r.pop(&c));
  EXPECT_FALSE(r.pop(&c));
  EXPECT_EQ(r.untracked, 0);
  EXPECT_TRUE(r.push({Verb::kData, 0}));
  ASSERT_TRUE(r.pop(&c));
  EXPECT_EQ(c.verb, Verb::kData);
}

// The matcher, through a Scanner, one or more segments per session.
class SmtpMatch : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string err;
    matcher_ = Matcher::compile(&err).release();
    ASSERT_NE(matcher_, nullptr) << err;
    scanner_ = Scanner::create(*matcher_, &err).release();
    ASSERT_NE(scanner_, nullptr) << err;
  }
  static void TearDownTestSuite() {
    delete scanner_;
    delete matcher_;
  }

  struct Line {
    Verb verb = Verb::kNone;
    uint16_t tricks = 0;
  };
  // Scans `segs` as one stream (state compressed between segments, as the
  // detector keeps it) and returns each line's verb and tricks.
  std::vector<Line> lines(const std::vector<std::string>& segs) {
    uint8_t state[512];
    uint16_t len = 0;
    std::vector<Line> out;
    Line cur;
    for (const std::string& s : segs) {
      const auto r = scanner_->scan(state, &len, sizeof(state),
                                    reinterpret_cast<const uint8_t*>(s.data()), uint32_t(s.size()));
      EXPECT_EQ(r, Scanner::Result::kOk);
      for (const Match& m : scanner_->matches()) {
        if (m.id == kIdEol) {
          out.push_back(cur);
          cur = Line{};
        } else if (verb_of(m.id) != Verb::kNone) {
          if (cur.verb == Verb::kNone) cur.verb = verb_of(m.id);
        } else {
          cur.tricks |= trick_of(m.id);
        }
      }
    }
    return out;
  }
  uint16_t tricks_of(const std::string& line) { return lines({line + "\r\n"}).at(0).tricks; }

  static Matcher* matcher_;
  static Scanner* scanner_;
};
Matcher* SmtpMatch::matcher_ = nullptr;
Scanner* SmtpMatch::scanner_ = nullptr;

TEST_F(SmtpMatch, StreamStateFitsTheSessionBuffer) {
  EXPECT_LE(matcher_->stream_size(), 96u);  // kStreamBuf in smtp_relay_probe.cc
}

TEST_F(SmtpMatch, EachTrick) {
  EXPECT_EQ(tricks_of("RCPT TO:<user%victim.example@home.example>"), trick::kPercent);
  EXPECT_EQ(tricks_of("RCPT TO:<victim.example!user>"), trick::kBang);
  EXPECT_EQ(tricks_of("RCPT TO:<user@victim.example@[198.19.0.2]>"), trick::kLiteral);
  EXPECT_EQ(tricks_of("RCPT TO:<user@victim.example@mail.home.example>"), trick::kDoubleAt);
  EXPECT_EQ(tricks_of("RCPT TO:<@relay.example:user@victim.example>"), trick::kSourceRoute);
  EXPECT_EQ(tricks_of("RCPT TO:<[198.19.0.2]:user@victim.example>"), trick::kSourceRoute);
  EXPECT_EQ(tricks_of("RCPT TO:<\"user@victim.example\"@home.example>"), trick::kQuoted);
  EXPECT_EQ(tricks_of("RCPT TO:<orbs-relaytest@victim.example>"), trick::kMarker);
  EXPECT_EQ(tricks_of("MAIL FROM:<relaytest@victim.example>"), trick::kMarker);
  EXPECT_EQ(tricks_of("HELO relaytest.orbs.example"), trick::kMarker);
  EXPECT_EQ(tricks_of("MAIL FROM:<sender>"), trick::kUnqualified);
  EXPECT_EQ(tricks_of("mail from: <orbs.org!sender> SIZE=10"),  // caseless
            trick::kBang | trick::kMarker | trick::kUnqualified);
  // The seed's ORBS variants.
  EXPECT_EQ(tricks_of("RCPT TO:<orbs-relaytest@manawatu.co.nz@[256.0.0.1]>"),
            trick::kLiteral | trick::kMarker);
  EXPECT_EQ(tricks_of("RCPT TO:<manawatu.co.nz!orbs-relaytest>"), trick::kBang | trick::kMarker);
}

TEST_F(SmtpMatch, OrdinaryMailIsClean) {
  for (const char* l :
       {"RCPT TO:<alice@home.example>", "MAIL FROM:<news@partner.example> SIZE=1234 BODY=8BITMIME",
        "MAIL FROM:<>", "MAIL FROM:<> AUTH=<>", "RCPT TO:<postmaster>",
        "RCPT TO:<bob@home.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob%40home.example",
        "MAIL FROM:<ana.ruiz@partner.example>", "EHLO mail.partner.example", "HELO sorbs.net",
        "RCPT TO:<forbs@home.example>", "DATA", "QUIT", "RSET", "NOOP 100% sure!", "VRFY user@a@b",
        "RCPT TO:<john.doe@home.example>"}) {
    EXPECT_EQ(tricks_of(l), 0) << l;
  }
  // Tricky text outside a command line: a header in a body someone scanned.
  EXPECT_EQ(tricks_of("X-Note: RCPT TO:<a%b@c>"), 0);
}

TEST_F(SmtpMatch, VerbsAndLines) {
  auto ls =
      lines({"EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nSTARTTLS\r\nBDAT 10 "
             "LAST\r\nNOOP\r\n"});
  ASSERT_EQ(ls.size(), 7u);
  EXPECT_EQ(ls[0].verb, Verb::kHelo);
  EXPECT_EQ(ls[1].verb, Verb::kMail);
  EXPECT_EQ(ls[2].verb, Verb::kRcpt);
  EXPECT_EQ(ls[3].verb, Verb::kData);
  EXPECT_EQ(ls[4].verb, Verb::kStartTls);
  EXPECT_EQ(ls[5].verb, Verb::kBdat);
  EXPECT_EQ(ls[6].verb, Verb::kNone);
  EXPECT_EQ(lines({"DATA\n"}).at(0).verb, Verb::kData);  // bare LF
}

TEST_F(SmtpMatch, PatternsStraddleSegments) {
  const std::string in =
      "HELO probe\r\nMAIL FROM:<probe@attacker.example>\r\nRCPT TO:<user%victim.example@home."
      "example>\r\nRCPT TO:<@relay.example:user@victim.example>\r\nRCPT "
      "TO:<plain@home.example>\r\n";
  const std::vector<Line> whole = lines({in});
  ASSERT_EQ(whole.size(), 5u);
  EXPECT_EQ(whole[2].tricks, trick::kPercent);
  EXPECT_EQ(whole[3].tricks, trick::kSourceRoute);
  EXPECT_EQ(whole[4].tricks, 0);
  for (size_t cut = 1; cut < in.size(); ++cut) {
    const auto split = lines({in.substr(0, cut), in.substr(cut)});
    ASSERT_EQ(split.size(), whole.size()) << cut;
    for (size_t i = 0; i < whole.size(); ++i) {
      EXPECT_EQ(split[i].verb, whole[i].verb) << cut;
      EXPECT_EQ(split[i].tricks, whole[i].tricks) << cut;
    }
  }
  // Byte by byte.
  std::vector<std::string> bytes;
  for (char c : in)
    bytes.emplace_back(1, c);
  const auto one = lines(bytes);
  ASSERT_EQ(one.size(), whole.size());
  EXPECT_EQ(one[3].tricks, trick::kSourceRoute);
}

TEST_F(SmtpMatch, HostileInput) {
  // A long line with no CRLF, then one that ends: one line, no trick.
  std::string big(60000, 'A');
  EXPECT_EQ(lines({"RCPT TO:<" + big, big + ">\r\n"}).size(), 1u);
  // A percent far into a long address still counts; the state stays small.
  EXPECT_EQ(lines({"RCPT TO:<" + big, "%x@y>\r\n"}).at(0).tricks, trick::kPercent);
  // Binary junk and NULs.
  std::string junk;
  for (int i = 0; i < 4096; ++i)
    junk += char(i * 37);
  EXPECT_EQ(lines({junk}).size(), size_t(std::count(junk.begin(), junk.end(), '\n')));
  // More line ends than the match buffer holds: reported, not overrun.
  uint8_t state[512];
  uint16_t len = 0;
  const std::string nl(Scanner::kMaxMatches + 100, '\n');
  EXPECT_EQ(scanner_->scan(state, &len, sizeof(state), reinterpret_cast<const uint8_t*>(nl.data()),
                           uint32_t(nl.size())),
            Scanner::Result::kOverflow);
  EXPECT_EQ(scanner_->matches().size(), Scanner::kMaxMatches);
  // A state buffer too small is reported, never written past.
  uint8_t tiny[4];
  len = 0;
  EXPECT_EQ(scanner_->scan(tiny, &len, sizeof(tiny), reinterpret_cast<const uint8_t*>("RCPT"), 4),
            Scanner::Result::kNoSpace);
  EXPECT_EQ(len, 0);
}
