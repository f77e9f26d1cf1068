// SMTP (RFC 5321) pieces for smtp-relay-probe: the relay-trick vocabulary, a
// Hyperscan streaming matcher for client command lines, and three small
// state machines that survive segment boundaries without buffering: the
// server's reply-code parser, the end-of-DATA finder and the ring that pairs
// replies with the commands they answer.
//
// Lifetimes follow Hyperscan's: a Matcher (compiled database) is built once
// on the main thread and shared read-only; a Scanner (scratch + one working
// stream + a match buffer) belongs to one shard; stream state lives with each
// session, compressed, in the caller's fixed buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

struct hs_database;
struct hs_scratch;
struct hs_stream;

namespace harrier::smtp {

// Relay tricks: ways to make a server's address parser route mail elsewhere.
namespace trick {
inline constexpr uint16_t kPercent = 1u << 0;      // user%victim@home
inline constexpr uint16_t kBang = 1u << 1;         // victim!user (UUCP bang path)
inline constexpr uint16_t kLiteral = 1u << 2;      // user@victim@[1.2.3.4]
inline constexpr uint16_t kDoubleAt = 1u << 3;     // user@victim@mail.home
inline constexpr uint16_t kSourceRoute = 1u << 4;  // @relay:user@victim, [1.2.3.4]:user@victim
inline constexpr uint16_t kQuoted = 1u << 5;       // "user@victim"@home
inline constexpr uint16_t kMarker = 1u << 6;       // relay-test strings (relaytest, ORBS, ORDB)
inline constexpr uint16_t kUnqualified = 1u << 7;  // MAIL FROM:<sender>, no domain (weak)
inline constexpr int kCount = 8;
// Tricks that make a session a relay test on their own. An unqualified
// sender is also what a misconfigured but honest client sends, so it only
// adds to the evidence.
inline constexpr uint16_t kStrong = 0x7F;
}  // namespace trick

const char* trick_name(int bit);  // "percent hack"; "" out of range
const char* trick_id(int bit);    // "percent_hack"

// What a client line (or the server's greeting) was, for reply pairing.
enum class Verb : uint8_t {
  kNone = 0,
  kGreeting,  // not a command: the server's 220 banner answers the connection
  kHelo,
  kMail,
  kRcpt,
  kData,
  kDataEnd,  // the "." ending a message
  kBdat,
  kStartTls,
  kOther,
};

// Hyperscan expression ids. Verbs end where the command word (and colon)
// ends, tricks inside the address, kEol on the line's '\n'.
enum MatchId : uint16_t {
  kIdHelo = 0,
  kIdMail,
  kIdRcpt,
  kIdData,
  kIdBdat,
  kIdStartTls,
  kIdFirstTrick,  // ids from here up to kIdEol are tricks (see trick_of)
  kIdPercent = kIdFirstTrick,
  kIdBang,
  kIdLiteral,
  kIdDoubleAt,
  kIdSourceRoute,
  kIdBracketRoute,
  kIdQuoted,
  kIdMarker,
  kIdMarkerHelo,
  kIdUnqualified,
  kIdEol,
  kIdCount,
};

Verb verb_of(uint16_t id);       // kNone for tricks and kIdEol
uint16_t trick_of(uint16_t id);  // trick bit, 0 for verbs and kIdEol

struct Match {
  uint64_t to;  // stream offset just past the match
  uint16_t id;
};

// The compiled database. Immutable once built; share it between shards.
class Matcher {
 public:
  // nullptr and *error set when Hyperscan refuses a pattern or the platform.
  static std::unique_ptr<Matcher> compile(std::string* error);
  ~Matcher();
  Matcher(const Matcher&) = delete;
  Matcher& operator=(const Matcher&) = delete;
  const hs_database* db() const { return db_; }
  size_t stream_size() const { return stream_size_; }  // uncompressed per-stream state

 private:
  Matcher() = default;
  hs_database* db_ = nullptr;
  size_t stream_size_ = 0;
};

// One shard's scanning context.
class Scanner {
 public:
  static constexpr uint32_t kMaxMatches = 2048;
  enum class Result : uint8_t {
    kOk,
    kOverflow,  // more matches than kMaxMatches in one call: the rest were dropped
    kNoSpace,   // the compressed stream did not fit `cap`: state not saved (*state_len = 0)
    kError,     // Hyperscan failed (bad state, scratch): state not saved
  };
  // nullptr and *error set when scratch or the working stream cannot be made.
  static std::unique_ptr<Scanner> create(const Matcher& m, std::string* error);
  ~Scanner();
  Scanner(const Scanner&) = delete;
  Scanner& operator=(const Scanner&) = delete;

  // Continues the stream saved in state[0..*state_len) (0: a new stream) with
  // `data`, then saves it back (compressed, at most `cap` bytes). Matches of
  // this call, sorted by offset (verbs, then tricks, then kEol at one
  // offset), are in matches() until the next call. No allocation.
  Result scan(uint8_t* state, uint16_t* state_len, uint16_t cap, const uint8_t* data,
              uint32_t len) noexcept;
  std::span<const Match> matches() const { return {matches_.get(), n_}; }

 private:
  Scanner() = default;
  static int on_match(unsigned id, unsigned long long from, unsigned long long to, unsigned flags,
                      void* ctx);
  const Matcher* m_ = nullptr;
  hs_scratch* scratch_ = nullptr;
  hs_stream* stream_ = nullptr;
  std::unique_ptr<Match[]> matches_;
  uint32_t n_ = 0;
  bool overflow_ = false;
};

// Server replies, line by line: "ddd text" ends a reply, "ddd-text" continues
// it. A line whose first three bytes are not a valid code (2-5, 0-5, 0-9)
// followed by ' ', '-' or the line end is skipped. Keeps 3 bytes of state.
struct ReplyParser {
  uint8_t state = 0;
  uint16_t code = 0;
  // After lost bytes: what follows is the middle of a line.
  void skip_line() noexcept { state = kSkip, code = 0; }
  // Calls on_reply(code) at the '\n' of each final line.
  template <typename F>
  void feed(const uint8_t* p, size_t n, F&& on_reply) noexcept {
    for (size_t i = 0; i < n; ++i) {
      const uint8_t c = p[i];
      if (c == '\n') {
        if (state == kFinal || state == kSep) on_reply(code);
        state = kStart, code = 0;
        continue;
      }
      switch (state) {
        case kStart:
        case kDigit1:
        case kDigit2: {
          const uint8_t lo = state == kStart ? '2' : '0';
          const uint8_t hi = state == kStart ? '5' : state == kDigit1 ? '5' : '9';
          if (c < lo || c > hi) {
            state = kSkip;
          } else {
            code = uint16_t(code * 10 + (c - '0'));
            ++state;
          }
          break;
        }
        case kSep:  // three digits read
          state = c == ' ' ? kFinal : c == '-' ? kSkip : c == '\r' ? kSep : kSkip;
          break;
        default:  // kFinal / kSkip: wait for the line end
          break;
      }
    }
  }

 private:
  enum : uint8_t { kStart = 0, kDigit1, kDigit2, kSep, kFinal, kSkip };
};

// The end of a DATA body: a line holding only "." (CRLF, or a bare LF from
// sloppy clients). The body is never matched against anything else.
struct BodyEnd {
  uint8_t state = 0;  // 0: at a line start (DATA's own line just ended)
  // Returns how many bytes of p belong to the body including its final
  // ".\r\n", or SIZE_MAX when the body goes on past p.
  size_t feed(const uint8_t* p, size_t n) noexcept;
};

// Commands waiting for their reply, oldest first. SMTP answers every command
// line once and in order (pipelining included), so a FIFO pairs them. When
// more than N are outstanding the newest are counted, not stored, until
// their replies drain the count: order stays right, detail is lost.
struct PendingCommand {
  Verb verb = Verb::kNone;
  uint16_t tricks = 0;
};

template <int N>
struct CommandRing {
  PendingCommand c[N];
  uint8_t head = 0, n = 0;
  uint16_t untracked = 0;

  // false: stored only as a count (ring full)
  bool push(const PendingCommand& cmd) noexcept {
    if (untracked || n == N) {
      if (untracked < UINT16_MAX) ++untracked;
      return false;
    }
    c[(head + n) % N] = cmd;
    ++n;
    return true;
  }
  // The command a reply answers. false with *out = {} when nothing is
  // outstanding or the answered command was only counted.
  bool pop(PendingCommand* out) noexcept {
    *out = PendingCommand{};
    if (n) {
      *out = c[head];
      head = uint8_t((head + 1) % N);
      --n;
      return true;
    }
    if (untracked) --untracked;
    return false;
  }
  void clear() noexcept { head = n = 0, untracked = 0; }
};

}  // namespace harrier::smtp
