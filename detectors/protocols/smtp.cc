#include "detectors/protocols/smtp.h"

#include <hs/hs.h>

#include <algorithm>
#include <cstring>

namespace harrier::smtp {

namespace {

constexpr const char* kTrickNames[trick::kCount] = {
    "percent hack", "bang path",         "address literal",   "double @",
    "source route", "quoted local part", "relay-test marker", "unqualified sender",
};
constexpr const char* kTrickIds[trick::kCount] = {
    "percent_hack", "bang_path",         "address_literal",   "double_at",
    "source_route", "quoted_local_part", "relay_test_marker", "unqualified_sender",
};

// Every trick pattern starts at a MAIL FROM / RCPT TO line and looks only
// inside the address: [^<>\s] cannot cross the closing '>' or the space
// before ESMTP parameters, so SIZE=, AUTH=<> or ORCPT= never count. Each
// class also excludes the character it then looks for, so a pattern matches
// about once per line and the callback stays cheap.
#define ADDR_CMD "^(?:MAIL[ \\t]+FROM|RCPT[ \\t]+TO)[ \\t]*:[ \\t]*<?"
#define MARKERS "(?:relay[-_.]?test|rlytest|\\borbs\\b|\\bordb\\b)"

struct Expr {
  MatchId id;
  const char* re;
};
constexpr Expr kExprs[] = {
    {kIdHelo, "^(?:HELO|EHLO)[ \\t]"},
    {kIdMail, "^MAIL[ \\t]+FROM[ \\t]*:"},
    {kIdRcpt, "^RCPT[ \\t]+TO[ \\t]*:"},
    // Both end on the '\n', as kEol does; the sort puts verbs first.
    {kIdData, "^DATA[ \\t]*\\r?\\n"},
    {kIdBdat, "^BDAT[ \\t]"},
    {kIdStartTls, "^STARTTLS[ \\t]*\\r?\\n"},
    {kIdPercent, ADDR_CMD "[^<>\\s%]*%"},
    {kIdBang, ADDR_CMD "[^<>\\s!]*!"},
    // local@domain@[literal]: a full address, then the server's own literal.
    {kIdLiteral, ADDR_CMD "[^<>\\s@]*@[^<>\\s@]+@\\["},
    // local@domain@host: a full address, then another domain. Not a source
    // route (starts with '@') nor a quoted local part (starts with '"').
    {kIdDoubleAt, ADDR_CMD "[^<>\\s@\"]+@[^<>\\s@\\[]+@[^<>\\s@\\[]"},
    {kIdSourceRoute, ADDR_CMD "@[^<>\\s:]*:"},
    {kIdBracketRoute, ADDR_CMD "\\[[^<>\\s\\]]*\\]:"},
    // A quoted local part that itself holds an address ("user@victim"@home).
    {kIdQuoted, ADDR_CMD "\"[^\"\\r\\n]*[@%!][^\"\\r\\n]*\"@"},
    {kIdMarker, ADDR_CMD "[^<>\\s]*" MARKERS},
    {kIdMarkerHelo, "^(?:HELO|EHLO)[ \\t][^\\r\\n]*" MARKERS},
    // A sender without a domain (not the null sender <>).
    {kIdUnqualified, "^MAIL[ \\t]+FROM[ \\t]*:[ \\t]*<?[^<>\\s@]+>?(?:[ \\t]|\\r?\\n)"},
    {kIdEol, "\\n"},
};
static_assert(std::size(kExprs) == kIdCount);

#undef ADDR_CMD
#undef MARKERS

// Rank at one end offset: a line's verb and tricks before its end.
inline int rank(uint16_t id) {
  return id < kIdFirstTrick ? 0 : id < kIdEol ? 1 : 2;
}

}  // namespace

const char* trick_name(int bit) {
  return bit >= 0 && bit < trick::kCount ? kTrickNames[bit] : "";
}
const char* trick_id(int bit) {
  return bit >= 0 && bit < trick::kCount ? kTrickIds[bit] : "";
}

Verb verb_of(uint16_t id) {
  switch (id) {
    case kIdHelo:
      return Verb::kHelo;
    case kIdMail:
      return Verb::kMail;
    case kIdRcpt:
      return Verb::kRcpt;
    case kIdData:
      return Verb::kData;
    case kIdBdat:
      return Verb::kBdat;
    case kIdStartTls:
      return Verb::kStartTls;
    default:
      return Verb::kNone;
  }
}

uint16_t trick_of(uint16_t id) {
  switch (id) {
    case kIdPercent:
      return trick::kPercent;
    case kIdBang:
      return trick::kBang;
    case kIdLiteral:
      return trick::kLiteral;
    case kIdDoubleAt:
      return trick::kDoubleAt;
    case kIdSourceRoute:
    case kIdBracketRoute:
      return trick::kSourceRoute;
    case kIdQuoted:
      return trick::kQuoted;
    case kIdMarker:
    case kIdMarkerHelo:
      return trick::kMarker;
    case kIdUnqualified:
      return trick::kUnqualified;
    default:
      return 0;
  }
}

std::unique_ptr<Matcher> Matcher::compile(std::string* error) {
  const char* exprs[kIdCount];
  unsigned flags[kIdCount], ids[kIdCount];
  for (size_t i = 0; i < kIdCount; ++i) {
    exprs[i] = kExprs[i].re;
    ids[i] = kExprs[i].id;
    // No HS_FLAG_SINGLEMATCH: it holds per stream, i.e. per session, and
    // would hide the second and later trick recipients of a session, whose
    // replies (accepted or refused) the detector reports.
    flags[i] = HS_FLAG_CASELESS | HS_FLAG_MULTILINE;
  }
  hs_database_t* db = nullptr;
  hs_compile_error_t* ce = nullptr;
  if (hs_compile_multi(exprs, flags, ids, kIdCount, HS_MODE_STREAM, nullptr, &db, &ce) !=
      HS_SUCCESS) {
    *error = std::string("smtp: Hyperscan cannot compile the command patterns");
    if (ce) {
      if (ce->expression >= 0 && ce->expression < int(kIdCount))
        *error += " (pattern " + std::to_string(ce->expression) + " \"" +
                  kExprs[ce->expression].re + "\")";
      *error += std::string(": ") + (ce->message ? ce->message : "unknown error");
      hs_free_compile_error(ce);
    }
    return nullptr;
  }
  std::unique_ptr<Matcher> m(new Matcher());
  m->db_ = db;
  if (hs_stream_size(db, &m->stream_size_) != HS_SUCCESS) {
    *error = "smtp: Hyperscan cannot size the stream state";
    return nullptr;
  }
  return m;
}

Matcher::~Matcher() {
  if (db_) hs_free_database(db_);
}

std::unique_ptr<Scanner> Scanner::create(const Matcher& m, std::string* error) {
  std::unique_ptr<Scanner> s(new Scanner());
  s->m_ = &m;
  if (hs_alloc_scratch(m.db(), &s->scratch_) != HS_SUCCESS) {
    *error = "smtp: Hyperscan cannot allocate scratch";
    return nullptr;
  }
  if (hs_open_stream(m.db(), 0, &s->stream_) != HS_SUCCESS) {
    *error = "smtp: Hyperscan cannot open the working stream";
    return nullptr;
  }
  s->matches_.reset(new Match[kMaxMatches]);
  return s;
}

Scanner::~Scanner() {
  if (stream_) hs_close_stream(stream_, nullptr, nullptr, nullptr);
  if (scratch_) hs_free_scratch(scratch_);
}

int Scanner::on_match(unsigned id, unsigned long long, unsigned long long to, unsigned, void* ctx) {
  auto* s = static_cast<Scanner*>(ctx);
  if (s->n_ == kMaxMatches) {
    s->overflow_ = true;
    return 0;
  }
  s->matches_[s->n_++] = Match{to, uint16_t(id)};
  return 0;
}

Scanner::Result Scanner::scan(uint8_t* state, uint16_t* state_len, uint16_t cap,
                              const uint8_t* data, uint32_t len) noexcept {
  n_ = 0;
  overflow_ = false;
  // Null callbacks: restoring or resetting must not report the previous
  // stream's end-of-data matches.
  const hs_error_t r =
      *state_len ? hs_reset_and_expand_stream(stream_, reinterpret_cast<const char*>(state),
                                              *state_len, scratch_, nullptr, nullptr)
                 : hs_reset_stream(stream_, 0, scratch_, nullptr, nullptr);
  if (r != HS_SUCCESS) {
    *state_len = 0;
    return Result::kError;
  }
  if (hs_scan_stream(stream_, reinterpret_cast<const char*>(data), len, 0, scratch_, on_match,
                     this) != HS_SUCCESS) {
    *state_len = 0;
    n_ = 0;
    return Result::kError;
  }
  // Matches come out nearly in order; same-offset ones in any order.
  auto before = [](const Match& a, const Match& b) {
    return a.to != b.to ? a.to < b.to : rank(a.id) < rank(b.id);
  };
  Match* m = matches_.get();
  if (!std::is_sorted(m, m + n_, before)) std::sort(m, m + n_, before);
  size_t used = 0;
  if (hs_compress_stream(stream_, reinterpret_cast<char*>(state), cap, &used) != HS_SUCCESS) {
    *state_len = 0;
    return Result::kNoSpace;
  }
  *state_len = uint16_t(used);
  return overflow_ ? Result::kOverflow : Result::kOk;
}

size_t BodyEnd::feed(const uint8_t* p, size_t n) noexcept {
  // 0: line start; 1: in a line; 2: "." at a line start; 3: ".\r".
  size_t i = 0;
  while (i < n) {
    switch (state) {
      case 1: {
        const void* nl = std::memchr(p + i, '\n', n - i);
        if (!nl) return SIZE_MAX;
        i = size_t(static_cast<const uint8_t*>(nl) - p) + 1;
        state = 0;
        break;
      }
      case 0:
        state = p[i] == '.' ? 2 : p[i] == '\n' ? 0 : 1;
        ++i;
        break;
      case 2:
        if (p[i] == '\n') return state = 0, i + 1;
        state = p[i] == '\r' ? 3 : 1;  // "..": a dot-stuffed line
        ++i;
        break;
      default:  // 3
        if (p[i] == '\n') return state = 0, i + 1;
        state = 1;
        ++i;
        break;
    }
  }
  return SIZE_MAX;
}

}  // namespace harrier::smtp
