// smtp-relay-probe (seed detect 5, an ORBS relay tester): one source opens
// several short SMTP sessions to a home mail server and, in MAIL FROM /
// RCPT TO (or its HELO), tries addresses built to make the server relay:
// percent hack, bang path, a second domain or an address literal after a
// full address, source routes, quoted local parts holding an address,
// relay-test strings. Ordinary deliveries, however many, carry none.
//
// Flow stage (on_packets, flow shards): a table of client->server sessions
// on the SMTP port, opened by the client's SYN. Client bytes are scanned in
// sequence by one Hyperscan streaming database whose state is kept
// compressed inside the session entry (expand, scan, compress per segment;
// no allocation); a DATA body is skipped up to its final ".". Server replies
// are parsed line by line and paired with the commands they answer, so each
// RCPT's fate (553 refused, 250 accepted) is known. Events go to the host
// shard owning the client: session open/end, each command with its tricks,
// the reply to each MAIL/RCPT, and the text of the session's first trick.
//
// Host stage (on_events, host shards): one incident per (client, server,
// port). The last kSlots sessions are kept for the window test: an alert
// needs >= min_sessions opened within `window` and >= min_trick_sessions of
// them trying a strong trick. It is sent when a session ends (so the
// evidence holds whole sessions), or kSettle after the threshold was met,
// or at the end of input; updates follow when the session count doubles,
// and at once when the server first accepts a trick.
#include <algorithm>
#include <cstring>

#include "dataplane/flow_key.h"
#include "detectors/incident_detector.h"
#include "detectors/protocols/smtp.h"

namespace harrier {
namespace {

namespace trick = smtp::trick;
using smtp::Verb;

constexpr ParamSpec kParams[] = {
    {"min_sessions", ParamType::kCount, 2, 16, 5,
     "SMTP sessions from one client to one server within `window`"},
    {"window", ParamType::kSeconds, 10, 86400, 600, "seconds in which min_sessions must open"},
    {"min_trick_sessions", ParamType::kCount, 1, 16, 1,
     "sessions in the window that tried a relay trick"},
    {"port", ParamType::kCount, 1, 65535, 25, "TCP port of the home mail servers"},
    max_updates_param(4, "update alerts per incident (when the session count doubles)"),
    hold_down_param(
        3600, 2592000,
        "seconds of silence after which the same client and server start a new incident"),
    table_size_param(8192, "(client, server) pairs remembered, all host shards together"),
    {"session_table_size", ParamType::kCount, 256, 1 << 22, 8192,
     "concurrent SMTP sessions followed per flow shard"},
};

// Session state idle longer than this is dropped (RFC 5321 servers give up
// on a silent client after 5 minutes).
constexpr uint64_t kSessionIdleNs = 600'000'000'000ull;
// A met threshold waits at most this long for a session to end before the
// alert goes out with what is known.
constexpr uint64_t kSettleNs = 30'000'000'000ull;
// Compressed Hyperscan stream state kept in each session. make_flow_state
// refuses a database whose full stream state is larger (compression only
// ever shrinks it); a state that still does not fit is counted and the
// session's stream restarts at the next line.
constexpr uint16_t kStreamBuf = 96;
constexpr int kSampleLen = 40;  // bytes of the first trick address carried to the alert
constexpr int kSlots = 16;      // recent sessions per (client, server): min_sessions <= kSlots

// Flow stage -> host stage event codes (HostEvent::code); each carries the
// struct below in HostEvent::detail.
enum Code : uint8_t {
  kOpen = 1,     // first payload byte of a session (no detail)
  kCommand = 2,  // CommandEvent: every RCPT, and MAIL/HELO with tricks
  kReply = 3,    // ReplyEvent: a MAIL/RCPT answered
  kSample = 4,   // SampleEvent: a chunk of the session's first trick line (see below)
  kEnd = 5,      // EndEvent: the session ended
};

// kCommand: a command line and the tricks in it.
struct CommandEvent {
  uint16_t tricks;
  Verb verb;
};
// kReply: a server reply and the command it answers.
struct ReplyEvent {
  uint16_t code;
  uint16_t tricks;  // of the command answered
  Verb verb;
};
// kSample: one chunk of the sample text.
constexpr int kSampleChunk = 24;
struct SampleEvent {
  uint8_t chunk;  // kSampleChunk bytes each
  uint8_t len;    // of the whole sample
  char text[kSampleChunk];
};
// kEnd: how long the session lasted and how many command lines it had.
struct EndEvent {
  uint32_t dur_ms;
  uint16_t commands;
};

// ------------------------------------------------------------ flow stage

enum class Mode : uint8_t { kCommands, kBody, kOpaque };

namespace sflag {
constexpr uint8_t kOpened = 0x01;      // kOpen sent
constexpr uint8_t kEnded = 0x02;       // kEnd sent
constexpr uint8_t kServerSeen = 0x04;  // the server has sent bytes
constexpr uint8_t kUnpaired = 0x08;    // a gap lost commands or replies: stop pairing
constexpr uint8_t kSampled = 0x10;     // the first trick line's text was sent
constexpr uint8_t kFinClient = 0x20;
constexpr uint8_t kFinServer = 0x40;
constexpr uint8_t kLineSkip = 0x80;  // client bytes up to the next '\n' are not a command
}  // namespace sflag

struct Session {
  FlowKey key;  // make_flow_key(client, server, cport, port)
  uint64_t last_ts;
  uint32_t lru_prev, lru_next;
  uint64_t open_ts;
  IpAddr client, server;
  uint16_t cport, sport;
  uint32_t isn;          // the client's SYN: a new ISN on the same tuple is a new session
  uint32_t next_seq[2];  // next expected sequence number: [0] client, [1] server
  uint8_t seq_known[2];
  Mode mode;
  uint8_t flags;
  uint16_t commands;
  uint64_t stream_off;  // bytes the current Hyperscan stream has seen
  // The command line being read.
  Verb line_verb;
  uint16_t line_tricks;
  uint64_t arg_next;  // stream offset of the next argument byte to copy
  uint8_t arg_len;
  char arg[kSampleLen];
  smtp::ReplyParser replies;
  smtp::BodyEnd body;
  smtp::CommandRing<16> pending;
  uint16_t hs_len;
  uint8_t hs_state[kStreamBuf];
};
using SessionTable = BoundedTable<FlowKey, Session>;

// The flow stage's rows of its counter table (pegs), after the kit's rows
// for the host stage's incident table and waiting list.
constexpr PegInfo kFlowPegs[] = {
    {"sessions", PegKind::kSum, "SMTP sessions followed"},
    {"segments_scanned", PegKind::kSum, "client segments scanned for commands"},
    {"retransmits", PegKind::kSum, "segments wholly seen before, skipped"},
    {"stream_gaps", PegKind::kSum, "missing bytes: the stream restarted at the next line"},
    {"hyperscan_errors", PegKind::kSum, "Hyperscan refused a scan or a stream restore"},
    {"stream_no_space", PegKind::kSum, "Hyperscan stream state larger than a session holds"},
    {"match_overflow", PegKind::kSum, "segments with more matches than the buffer holds"},
    {"untracked_commands", PegKind::kSum, "commands not paired with their replies"},
    {"session_table_full", PegKind::kSum, "sessions evicted or not stored (session_table_size)"},
};

struct FlowCounters {
  Peg sessions, segments_scanned, retransmits, gaps, hs_errors, stream_no_space, match_overflow,
      untracked_commands, table_full;
};

struct FlowState final : DetectorState {
  std::unique_ptr<smtp::Scanner> scanner;
  std::unique_ptr<SessionTable> sessions;
  FlowCounters counters;
  void add_pegs(uint64_t* out) const noexcept override {
    out += kIncidentTablePegs;
    const FlowCounters& c = counters;
    for (const Peg* p :
         {&c.sessions, &c.segments_scanned, &c.retransmits, &c.gaps, &c.hs_errors,
          &c.stream_no_space, &c.match_overflow, &c.untracked_commands, &c.table_full})
      *out++ += p->get();
  }
};

// ------------------------------------------------------------ host stage

// One recent session of a (client, server) pair.
struct Slot {
  uint64_t open_ts;
  uint16_t cport;
  uint16_t tricks;
  uint16_t rcpts;
  uint16_t trick_cmds;
  uint16_t trick_ok;    // trick commands answered 2xx
  uint16_t r2, r4, r5;  // replies to MAIL/RCPT by class
  uint32_t dur_ms;
  uint8_t ended;
};

// Evidence of one incident.
struct Totals {
  uint32_t sessions, trick_sessions, rcpts, trick_cmds, trick_ok;
  uint32_t r2, r4, r5;
  uint32_t ended;
  uint64_t dur_ms;
  uint16_t tricks;
  uint16_t codes[6];  // reply codes to trick commands, with counts
  uint16_t code_n[6];
  uint16_t code_other;
  void add(const Slot& s) noexcept {
    ++sessions;
    trick_sessions += (s.tricks & trick::kStrong) != 0;
    rcpts += s.rcpts, trick_cmds += s.trick_cmds, trick_ok += s.trick_ok;
    r2 += s.r2, r4 += s.r4, r5 += s.r5;
    if (s.ended) ++ended, dur_ms += s.dur_ms;
    tricks |= s.tricks;
  }
  void add_code(uint16_t code) noexcept {
    for (int i = 0; i < 6; ++i) {
      if (codes[i] == code || codes[i] == 0) {
        codes[i] = code;
        if (code_n[i] < UINT16_MAX) ++code_n[i];
        return;
      }
    }
    ++code_other;
  }
};

struct Entry : KitEntry {
  uint64_t pending_since;  // threshold met, alert not yet sent (0: none)
  uint16_t first_cport;
  uint32_t n_slots;  // sessions ever recorded: the newest is slots[(n_slots - 1) % kSlots]
  Slot slots[kSlots];
  Totals tot;
  uint8_t sample_len;
  uint16_t sample_cport;  // the session the sample comes from
  char sample[kSampleLen];
  uint8_t accepted_reported;
};

// A reply code to trick commands and how many times it came.
struct CodeCount {
  uint16_t code, n;
};

// What an alert carries beyond the shared fields (targets[0] is the server).
struct Detail {
  uint32_t sessions, trick_sessions;  // sessions, and those with a strong trick
  uint32_t rcpts;                     // RCPT commands
  uint32_t trick_cmds;                // relay attempts: trick recipients and crafted senders
  uint32_t accepted;                  // trick recipients answered 2xx
  uint32_t r2, r4, r5;                // replies to all MAIL/RCPT by class
  uint32_t dur_ms;                    // summed duration of the ended sessions
  uint16_t ended;                     // sessions ended
  uint16_t tricks;                    // trick bits
  CodeCount codes[6];  // replies to trick recipients and refused trick senders, most first
  uint8_t sample_len;
  char sample[kSampleLen];  // the first trick address
};

// The counter rows of the flow stage, named with the kit's (the host stage
// keeps nothing beside its incidents).
struct FlowRows : NoStateExtra {
  static std::span<const PegInfo> extra_pegs() { return kFlowPegs; }
};

uint16_t sat16(uint32_t v) {
  return uint16_t(std::min<uint32_t>(v, UINT16_MAX));
}

// The kit's SettleList holds the entries whose first alert waits
// (pending_since != 0), by when it is due. Records stay until their time
// even when the alert went early: room for every incident of a busy mail
// relay within one settle period.
class SmtpRelayProbe final : public IncidentDetector<SmtpRelayProbe, Entry, FlowRows> {
 public:
  SmtpRelayProbe(const DetectorDescriptor& d, const DetectorConfig& c)
      : IncidentDetector(d, c, "smtph", /*closing_update=*/false),
        min_sessions_(uint32_t(c.get("min_sessions"))),
        min_trick_sessions_(uint32_t(c.get("min_trick_sessions"))),
        window_ns_(uint64_t(c.get("window") * 1e9)),
        port_(uint16_t(c.get("port"))),
        session_table_size_(uint32_t(c.get("session_table_size"))) {
    // Compiled once, here on the main thread; every shard shares it read-only.
    matcher_ = smtp::Matcher::compile(&matcher_error_);
    if (matcher_ && matcher_->stream_size() > kStreamBuf) {
      matcher_error_ = "smtp-relay-probe: the Hyperscan stream state needs " +
                       std::to_string(matcher_->stream_size()) + " bytes, sessions hold " +
                       std::to_string(kStreamBuf) + " (raise kStreamBuf)";
      matcher_.reset();
    }
  }

  std::unique_ptr<DetectorState> make_flow_state(int socket, uint32_t shard,
                                                 std::string* error) const override {
    if (!matcher_) {
      *error = matcher_error_;
      return nullptr;
    }
    auto s = std::make_unique<FlowState>();
    s->scanner = smtp::Scanner::create(*matcher_, error);
    if (!s->scanner) return nullptr;
    s->sessions = make_table<FlowKey, Session>(desc_.id, "smtps", session_table_size_, shard, 1,
                                               socket, s.get(), error, "session_table_size");
    return s->sessions ? std::move(s) : nullptr;
  }

  // The host stage, too, needs the matcher to have compiled.
  bool make_extra(State&, int, uint32_t, uint32_t, std::string* error) const {
    if (!matcher_) *error = matcher_error_;
    return matcher_ != nullptr;
  }

  PacketInterest packet_interest() const override {
    PacketInterest in;  // both directions of sessions with home mail servers
    in.classes = class_bit(PacketClass::kTcp);
    in.any_facts = packet_fact::kSrcHome | packet_fact::kDstHome;
    in.ports = {port_};
    return in;
  }

  void on_packets(ShardCtx& ctx, PacketSelection pkts, DetectorState* st) const noexcept override {
    FlowState& fs = *static_cast<FlowState*>(st);
    uint64_t max_ts = 0;
    for (const PacketCtx& p : pkts) {
      if (!p.decoded || !p.flow || p.v->proto != L4Proto::kTcp || p.v->is_later_fragment) continue;
      const PacketView& v = *p.v;
      const bool to_server = v.dport == port_ && p.dst_home && p.from_initiator;
      const bool from_server = v.sport == port_ && p.src_home && !p.from_initiator;
      if (!to_server && !from_server) continue;
      max_ts = std::max(max_ts, p.ts);
      on_segment(ctx, fs, p, to_server);
    }
    if (max_ts) fs.sessions->expire(max_ts, kSessionIdleNs, 32);
  }

  void on_events(ShardCtx& ctx, EventSelection events, DetectorState* st) const noexcept override {
    State& hs = state(st);
    for (const HostEvent& ev : events) {
      on_event(ctx, hs, ev);
    }
  }

  // Called by the kit.
  uint32_t amount(const Entry& e) const noexcept { return e.tot.sessions; }
  uint64_t idle_ns() const noexcept { return std::max(policy_.hold_down_ns, window_ns_); }
  // A first alert whose settle time came.
  uint64_t settle(ShardCtx& ctx, uint64_t now, Entry& e) const noexcept {
    if (e.pending_since == 0) return 0;  // sent already (the evidence completed)
    if (now != UINT64_MAX && now < e.pending_since + kSettleNs) return e.pending_since + kSettleNs;
    send_first(ctx, e, e.inc.last_ts, e.last_order);
    return 0;
  }

 private:
  // ---------------------------------------------------------- flow stage

  // An event of this session, client -> server, for the client's host shard.
  HostEvent session_event(const Session& s, const PacketCtx& p, uint8_t code) const noexcept {
    HostEvent e = own_event(p);
    e.src = s.client, e.dst = s.server, e.sport = s.cport, e.dport = s.sport;
    e.code = code;
    return e;
  }

  void raise_event(ShardCtx& ctx, const Session& s, const PacketCtx& p,
                   uint8_t code) const noexcept {
    HostEvent e = session_event(s, p, code);
    ctx.events->emit(e, e.src);
  }
  template <typename D>
  void raise_event(ShardCtx& ctx, const Session& s, const PacketCtx& p, uint8_t code,
                   const D& d) const noexcept {
    HostEvent e = session_event(s, p, code);
    e.detail.put(d);
    ctx.events->emit(e, e.src);
  }

  void on_segment(ShardCtx& ctx, FlowState& fs, const PacketCtx& p, bool to_server) const noexcept {
    const PacketView& v = *p.v;
    const uint16_t fl = v.tcp_flags;
    const bool syn = fl & tcp_flag::kSyn, ack = fl & tcp_flag::kAck;
    FlowKey k;
    if (to_server)
      make_flow_key(v.src, v.dst, v.sport, v.dport, 6, k);
    else
      make_flow_key(v.dst, v.src, v.dport, v.sport, 6, k);

    Session* s = fs.sessions->find(k);
    if (to_server && syn && !ack) {
      if (s && s->isn == v.tcp_seq) return;  // a resent SYN
      if (s) fs.sessions->remove(s);         // the tuple reused: a new session
      bool created;
      const uint64_t evictions = fs.sessions->evictions();
      s = fs.sessions->find_or_insert(k, p.ts, &created);
      fs.counters.table_full.add(fs.sessions->evictions() - evictions);
      if (!s) {
        ++fs.counters.table_full;
        return;
      }
      ++fs.counters.sessions;
      s->client = v.src, s->server = v.dst, s->cport = v.sport, s->sport = v.dport;
      s->isn = v.tcp_seq;
      s->next_seq[0] = v.tcp_seq + 1;
      s->seq_known[0] = 1;
      s->mode = Mode::kCommands;
      s->pending.push({Verb::kGreeting, 0});  // the banner answers the connection
      return;
    }
    if (!s) return;  // not opened by a SYN we saw: no reliable line boundaries
    fs.sessions->touch(s, p.ts);
    const int dir = to_server ? 0 : 1;
    if (syn) {  // the server's SYN-ACK
      if (!to_server && ack && !s->seq_known[1]) {
        s->next_seq[1] = v.tcp_seq + 1;
        s->seq_known[1] = 1;
      }
      return;
    }

    // In-sequence bytes of this segment.
    const uint8_t* data = v.payload;
    uint32_t len = v.payload_len;
    if (len) {
      if (!s->seq_known[dir]) {
        s->next_seq[dir] = v.tcp_seq;
        s->seq_known[dir] = 1;
      }
      const int32_t d = int32_t(v.tcp_seq - s->next_seq[dir]);
      if (d < 0) {
        const uint32_t seen = 0u - uint32_t(d);
        if (seen >= len) {
          ++fs.counters.retransmits;
          len = 0;
        } else {
          data += seen, len -= seen;  // overlap: keep the new tail
        }
      } else if (d > 0) {
        ++fs.counters.gaps;
        lost_bytes(*s, to_server);
      }
      if (len) s->next_seq[dir] = v.tcp_seq + uint32_t(v.payload_len);
    }
    if (len && s->mode != Mode::kOpaque) {
      if (!(s->flags & sflag::kOpened)) {
        s->flags |= sflag::kOpened;
        s->open_ts = p.ts;
        raise_event(ctx, *s, p, kOpen);
      }
      if (to_server)
        client_bytes(ctx, fs, *s, p, data, len);
      else
        server_bytes(ctx, fs, *s, p, data, len);
    }

    if (fl & (tcp_flag::kFin | tcp_flag::kRst)) {
      if ((s->flags & sflag::kOpened) && !(s->flags & sflag::kEnded)) {
        s->flags |= sflag::kEnded;
        const uint64_t ms = p.ts > s->open_ts ? (p.ts - s->open_ts) / 1'000'000ull : 0;
        raise_event(ctx, *s, p, kEnd,
                    EndEvent{uint32_t(std::min<uint64_t>(ms, UINT32_MAX)), s->commands});
      }
      s->flags |= (fl & tcp_flag::kRst) ? (sflag::kFinClient | sflag::kFinServer)
                  : to_server           ? sflag::kFinClient
                                        : sflag::kFinServer;
      if ((s->flags & (sflag::kFinClient | sflag::kFinServer)) ==
          (sflag::kFinClient | sflag::kFinServer))
        fs.sessions->remove(s);
    }
  }

  // Bytes were lost in one direction: line boundaries and the command/reply
  // pairing can no longer be trusted. Restart cleanly at the next line.
  static void lost_bytes(Session& s, bool client) noexcept {
    s.flags |= sflag::kUnpaired;
    s.pending.clear();
    if (client) {
      if (s.mode == Mode::kCommands) {
        s.flags |= sflag::kLineSkip;
        s.hs_len = 0, s.stream_off = 0;
        s.line_verb = Verb::kNone, s.line_tricks = 0;
      }
    } else {
      s.replies.skip_line();
    }
  }

  void server_bytes(ShardCtx& ctx, FlowState&, Session& s, const PacketCtx& p, const uint8_t* data,
                    uint32_t len) const noexcept {
    s.flags |= sflag::kServerSeen;
    s.replies.feed(data, len, [&](uint16_t code) {
      if (s.mode == Mode::kOpaque || (s.flags & sflag::kUnpaired)) return;
      smtp::PendingCommand cmd;
      if (!s.pending.pop(&cmd)) return;
      switch (cmd.verb) {
        case Verb::kMail:
        case Verb::kRcpt:
          raise_event(ctx, s, p, kReply, ReplyEvent{code, cmd.tricks, cmd.verb});
          break;
        case Verb::kData:
          if (code == 354) s.mode = Mode::kBody, s.body = smtp::BodyEnd{};
          break;
        case Verb::kStartTls:
          if (code == 220) s.mode = Mode::kOpaque;  // the rest is TLS
          break;
        default:
          break;
      }
    });
  }

  void client_bytes(ShardCtx& ctx, FlowState& fs, Session& s, const PacketCtx& p,
                    const uint8_t* data, uint32_t len) const noexcept {
    while (len && s.mode != Mode::kOpaque) {
      if (s.mode == Mode::kBody) {
        const size_t n = s.body.feed(data, len);
        if (n == SIZE_MAX) return;
        data += n, len -= uint32_t(n);
        s.mode = Mode::kCommands;
        s.hs_len = 0, s.stream_off = 0;  // commands start afresh at a line start
        ++s.commands;
        if (!(s.flags & sflag::kUnpaired) && !s.pending.push({Verb::kDataEnd, 0}))
          ++fs.counters.untracked_commands;
        continue;
      }
      if (s.flags & sflag::kLineSkip) {
        const void* nl = std::memchr(data, '\n', len);
        if (!nl) return;
        const uint32_t n = uint32_t(static_cast<const uint8_t*>(nl) - data) + 1;
        data += n, len -= n;
        s.flags &= uint8_t(~sflag::kLineSkip);
        continue;
      }
      // Stops early only when the line it ends switches the mode.
      const uint32_t n = scan_commands(ctx, fs, s, p, data, len);
      data += n, len -= n;
    }
  }

  // Scans command bytes; returns how many belong to command lines (all of
  // them unless a line switched the session out of command mode).
  uint32_t scan_commands(ShardCtx& ctx, FlowState& fs, Session& s, const PacketCtx& p,
                         const uint8_t* data, uint32_t len) const noexcept {
    smtp::Scanner& sc = *fs.scanner;
    const uint64_t base = s.stream_off;
    ++fs.counters.segments_scanned;
    const auto r = sc.scan(s.hs_state, &s.hs_len, kStreamBuf, data, len);
    if (r == smtp::Scanner::Result::kError) {
      ++fs.counters.hs_errors;
      lost_bytes(s, true);
      return len;
    }
    s.stream_off += len;
    auto copy_arg = [&](uint64_t end) {  // argument bytes [arg_next, end) of this segment
      if (s.line_verb != Verb::kMail && s.line_verb != Verb::kRcpt && s.line_verb != Verb::kHelo)
        return;
      const uint64_t from = std::max(s.arg_next, base);
      for (uint64_t o = from; o < end && s.arg_len < kSampleLen; ++o) {
        const uint8_t c = data[o - base];
        if (c == '\r' || c == '\n' || (c == ' ' && s.arg_len == 0)) continue;
        s.arg[s.arg_len++] = (c >= 0x20 && c < 0x7F) ? char(c) : '?';
      }
      s.arg_next = std::max(s.arg_next, end);
    };
    for (const smtp::Match& m : sc.matches()) {
      if (m.to < base || m.to > base + len) continue;  // cannot happen; never index out of data
      if (m.id == smtp::kIdEol) {
        copy_arg(m.to);
        commit_line(ctx, fs, s, p);
        if (s.mode != Mode::kCommands) {
          // BDAT made the rest opaque; a DATA with no server in sight put
          // us in the body. Either way the stream's later matches are moot.
          s.hs_len = 0, s.stream_off = 0;
          return uint32_t(m.to - base);
        }
        continue;
      }
      if (const Verb vb = smtp::verb_of(m.id); vb != Verb::kNone) {
        if (s.line_verb == Verb::kNone) {
          s.line_verb = vb;
          s.arg_next = m.to;
          s.arg_len = 0;
        }
      } else {
        s.line_tricks |= smtp::trick_of(m.id);
      }
    }
    copy_arg(base + len);
    if (r == smtp::Scanner::Result::kOverflow) {
      ++fs.counters.match_overflow;
      lost_bytes(s, true);
    } else if (r == smtp::Scanner::Result::kNoSpace) {
      ++fs.counters.stream_no_space;
      lost_bytes(s, true);
    }
    return len;
  }

  void commit_line(ShardCtx& ctx, FlowState& fs, Session& s, const PacketCtx& p) const noexcept {
    const Verb vb = s.line_verb == Verb::kNone ? Verb::kOther : s.line_verb;
    const uint16_t tricks = s.line_tricks;
    s.line_verb = Verb::kNone, s.line_tricks = 0;
    if (s.commands < UINT16_MAX) ++s.commands;
    if (!(s.flags & sflag::kUnpaired) && !s.pending.push({vb, tricks}))
      ++fs.counters.untracked_commands;
    if (vb == Verb::kRcpt || ((vb == Verb::kMail || vb == Verb::kHelo) && tricks))
      raise_event(ctx, s, p, kCommand, CommandEvent{tricks, vb});
    if ((tricks & trick::kStrong) && !(s.flags & sflag::kSampled)) {
      s.flags |= sflag::kSampled;
      send_sample(ctx, s, p);
    }
    if (vb == Verb::kData && !(s.flags & sflag::kServerSeen)) {
      // No replies to wait for (one-sided capture): assume the 354 came.
      s.mode = Mode::kBody, s.body = smtp::BodyEnd{};
    } else if (vb == Verb::kBdat) {
      s.mode = Mode::kOpaque;  // binary chunks we do not size; stop here
    }
  }

  void send_sample(ShardCtx& ctx, const Session& s, const PacketCtx& p) const noexcept {
    for (int off = 0, chunk = 0; off < s.arg_len; off += kSampleChunk, ++chunk) {
      HostEvent e = session_event(s, p, kSample);
      SampleEvent d{uint8_t(chunk), s.arg_len, {}};
      std::memcpy(d.text, s.arg + off, std::min<int>(kSampleChunk, s.arg_len - off));
      e.detail.put(d);
      ctx.events->emit(e, e.src);
    }
  }

  // ---------------------------------------------------------- host stage

  Slot* find_slot(Entry& e, uint16_t cport) const noexcept {
    const uint32_t n = std::min<uint32_t>(e.n_slots, kSlots);
    for (uint32_t i = 1; i <= n; ++i) {  // newest first
      Slot& s = e.slots[(e.n_slots - i) % kSlots];
      if (s.cport == cport) return &s;
    }
    return nullptr;
  }

  // Sessions (and trick sessions) opened within the window before `now`.
  void window_counts(const Entry& e, uint64_t now, uint32_t* sessions,
                     uint32_t* tricky) const noexcept {
    *sessions = *tricky = 0;
    const uint64_t since = now > window_ns_ ? now - window_ns_ : 0;
    for (uint32_t i = 0; i < std::min<uint32_t>(e.n_slots, kSlots); ++i) {
      if (e.slots[i].open_ts < since) continue;
      ++*sessions;
      *tricky += (e.slots[i].tricks & trick::kStrong) != 0;
    }
  }

  void on_event(ShardCtx& ctx, State& hs, const HostEvent& ev) const noexcept {
    const PairKey k = PairKey::make(ev.src, &ev.dst, 6, ev.dport);
    Entry* e;
    if (ev.code == kOpen) {
      bool fresh;
      e = incident(ctx, hs, k, ev.ts, ev.order, &fresh);
      if (!e) return;
    } else {
      e = hs.table->find(k);
      if (!e) return;
      hs.table->touch(e, ev.ts);
      e->last_order = ev.order;
      e->inc.last_ts = std::max(e->inc.last_ts, ev.ts);
    }
    Slot* s = ev.code == kOpen ? nullptr : find_slot(*e, ev.sport);
    const bool counting = e->inc.alerts_sent > 0 || e->pending_since;

    switch (ev.code) {
      case kOpen: {
        uint32_t in_window, tricky;
        window_counts(*e, ev.ts, &in_window, &tricky);
        if (!counting && tricky == 0) {
          // Nothing suspicious in the window: the evidence is the window.
          e->tot = Totals{};
          e->sample_len = 0;
          const uint64_t since = ev.ts > window_ns_ ? ev.ts - window_ns_ : 0;
          e->inc.first_ts = ev.ts;
          for (uint32_t i = 0; i < std::min<uint32_t>(e->n_slots, kSlots); ++i)
            if (e->slots[i].open_ts >= since) {
              e->tot.add(e->slots[i]);
              if (e->slots[i].open_ts < e->inc.first_ts) {
                e->inc.first_ts = e->slots[i].open_ts;
                e->first_cport = e->slots[i].cport;
              }
            }
        }
        Slot& ns = e->slots[e->n_slots++ % kSlots];
        ns = Slot{};
        ns.open_ts = ev.ts, ns.cport = ev.sport;
        if (e->tot.sessions == 0) e->inc.first_ts = ev.ts, e->first_cport = ev.sport;
        ++e->tot.sessions;
        break;
      }
      case kCommand: {
        const CommandEvent c = ev.detail.get<CommandEvent>();
        const uint16_t tricks = c.tricks;
        const Verb vb = c.verb;
        const bool rcpt = vb == Verb::kRcpt;
        // A relay attempt is an address: any trick in a recipient, a crafted
        // sender. A relay-test name in HELO or in an otherwise plain sender
        // marks the session as a test but is not an attempt of its own.
        const bool attempt =
            rcpt ? tricks != 0 : vb == Verb::kMail && (tricks & ~trick::kMarker) != 0;
        if (s) {
          const bool first_strong = !(s->tricks & trick::kStrong) && (tricks & trick::kStrong);
          s->rcpts += rcpt;
          s->trick_cmds += attempt;
          s->tricks |= tricks;
          if (first_strong) ++e->tot.trick_sessions;
        }
        e->tot.rcpts += rcpt;
        e->tot.trick_cmds += attempt;
        e->tot.tricks |= tricks;
        break;
      }
      case kReply: {
        const ReplyEvent r = ev.detail.get<ReplyEvent>();
        const uint16_t code = r.code, tricks = r.tricks;
        const bool rcpt = r.verb == Verb::kRcpt;
        const int cls = code / 100;
        // Relaying hinges on the recipient: a trick RCPT answered 2xx is an
        // accepted relay; a trick sender only matters when it is refused
        // (the test ends there), not when it is accepted.
        const bool accepted = tricks && rcpt && cls == 2;
        if (s) {
          s->r2 += cls == 2, s->r4 += cls == 4, s->r5 += cls == 5;
          s->trick_ok += accepted;
        }
        e->tot.r2 += cls == 2, e->tot.r4 += cls == 4, e->tot.r5 += cls == 5;
        if (tricks && (rcpt || cls >= 4)) e->tot.add_code(code);
        e->tot.trick_ok += accepted;
        break;
      }
      case kSample: {
        // The incident's first sample, chunks from that session only.
        const SampleEvent d = ev.detail.get<SampleEvent>();
        if (d.chunk == 0 ? e->sample_len != 0 : ev.sport != e->sample_cport) break;
        if (d.chunk == 0) e->sample_cport = ev.sport;
        const int off = d.chunk * kSampleChunk;
        const int total = std::min<int>(d.len, kSampleLen);
        if (off >= total) break;
        std::memcpy(e->sample + off, d.text, std::min<int>(kSampleChunk, total - off));
        e->sample_len = uint8_t(std::max<int>(e->sample_len, std::min(total, off + kSampleChunk)));
        break;
      }
      case kEnd: {
        const uint32_t dur_ms = ev.detail.get<EndEvent>().dur_ms;
        if (s && !s->ended) {
          s->ended = 1;
          s->dur_ms = dur_ms;
        }
        ++e->tot.ended;
        e->tot.dur_ms += dur_ms;
        break;
      }
      default:
        return;
    }
    decide(ctx, hs, *e, ev);
  }

  void decide(ShardCtx& ctx, State& hs, Entry& e, const HostEvent& ev) const noexcept {
    if (e.inc.alerts_sent == 0) {
      if (!e.pending_since) {
        uint32_t sessions, tricky;
        window_counts(e, ev.ts, &sessions, &tricky);
        if (sessions < min_sessions_ || tricky < min_trick_sessions_) return;
        e.pending_since = std::max<uint64_t>(ev.ts, 1);
        if (!hs.settle.add(hs.table->index_of(&e), e.inc, e.pending_since + kSettleNs)) {
          send_first(ctx, e, ev.ts, ev.order);  // no room to wait: send what we have
          return;
        }
      }
      // A session ending completes the evidence; so does a relay that accepted.
      if (ev.code == kEnd || e.tot.trick_ok) send_first(ctx, e, ev.ts, ev.order);
      return;
    }
    int what = 0;
    if (ev.code == kEnd) what = policy_.decide(e.inc, e.tot.sessions, true);
    // The server first accepting a trick is news worth an update of its own.
    if (!what && e.tot.trick_ok && !e.accepted_reported &&
        e.inc.alerts_sent <= policy_.max_updates) {
      ++e.inc.alerts_sent;
      what = 2;
    }
    if (what) send(ctx, e, ev.ts, ev.order);
  }

  void send_first(ShardCtx& ctx, Entry& e, uint64_t ts, uint64_t order) const noexcept {
    e.pending_since = 0;
    if (policy_.decide(e.inc, e.tot.sessions, true) == 1) send(ctx, e, ts, order);
  }

  void send(ShardCtx& ctx, Entry& e, uint64_t ts, uint64_t order) const noexcept {
    if (e.tot.trick_ok) e.accepted_reported = 1;
    emit(ctx, e, ts, order);
  }

 public:  // called by the kit
  void fill(ShardCtx& ctx, Alert* a, const Entry& e) const noexcept {
    const IpAddr server = e.key.second();
    a->proto = 6;
    a->dst = server;
    a->sport = e.first_cport, a->dport = e.key.port;
    const int lethality = std::min(5, cfg_.lethality + (e.tot.trick_ok ? 1 : 0));
    a->score = ctx.score(server, 6, e.key.port, lethality);
    const Totals& t = e.tot;
    Detail d{};
    d.sessions = t.sessions, d.trick_sessions = t.trick_sessions;
    d.rcpts = t.rcpts, d.trick_cmds = t.trick_cmds;
    d.accepted = t.trick_ok;
    d.r2 = t.r2, d.r4 = t.r4, d.r5 = t.r5;
    d.dur_ms = uint32_t(std::min<uint64_t>(t.dur_ms, UINT32_MAX));
    d.ended = sat16(t.ended);
    d.tricks = t.tricks;
    // Codes by count, most frequent first.
    for (int i = 0; i < 6; ++i)
      if (t.codes[i]) d.codes[i] = CodeCount{t.codes[i], t.code_n[i]};
    std::sort(d.codes, d.codes + 6, [](CodeCount x, CodeCount y) { return x.n > y.n; });
    d.sample_len = e.sample_len;
    std::memcpy(d.sample, e.sample, e.sample_len);
    a->detail.put(d);
    a->n_targets = 1;
    a->targets[0] = server;
  }

 private:
  uint32_t min_sessions_, min_trick_sessions_;
  uint64_t window_ns_;
  uint16_t port_;
  uint32_t session_table_size_;
  std::unique_ptr<smtp::Matcher> matcher_;
  std::string matcher_error_;
};

std::string join(const std::vector<std::string>& v, const char* sep = ", ") {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i)
    s += (i ? sep : "") + v[i];
  return s;
}

void render(const Alert& a, AlertText& t) {
  const Detail d = a.detail.get<Detail>();
  const uint32_t sessions = d.sessions, trick_sessions = d.trick_sessions, rcpts = d.rcpts,
                 trick_cmds = d.trick_cmds, accepted = d.accepted;
  std::vector<std::string> names;
  auto tricks = nlohmann::ordered_json::array();
  for (int b = 0; b < trick::kCount; ++b)
    if (d.tricks & (1u << b)) {
      names.push_back(smtp::trick_name(b));
      tricks.push_back(smtp::trick_id(b));
    }
  std::vector<std::string> refused_codes;
  auto codes = nlohmann::ordered_json::object();
  uint32_t answered = 0, refused = 0;
  for (const CodeCount& c : d.codes) {
    const uint32_t code = c.code, n = c.n;
    if (!code) continue;
    codes[std::to_string(code)] = n;
    answered += n;
    if (code >= 500) refused += n, refused_codes.push_back(std::to_string(code));
  }
  const std::string sample(d.sample, std::min<uint32_t>(d.sample_len, kSampleLen));
  const double span = span_seconds(a.first_ts, a.last_ts);

  std::string outcome;
  if (accepted)
    outcome = ", " + format_count(accepted) + (accepted == 1 ? " recipient" : " recipients") +
              " ACCEPTED: the server may relay";
  else if (!answered)
    outcome = ", no replies seen";
  else if (refused == answered)
    outcome = ", all refused (" + join(refused_codes) + ")";
  else
    outcome = ", " + format_count(refused) + " of " + format_count(answered) + " refused (" +
              join(refused_codes) + ")";
  t.signature = "SMTP relay probe: " + format_count(sessions) +
                (sessions == 1 ? " session" : " sessions") + " to " + ip_to_string(a.dst) + ":" +
                std::to_string(a.dport) + " in " + format_seconds(span) + ", " +
                format_count(trick_cmds) + (trick_cmds == 1 ? " relay trick" : " relay tricks") +
                " tried (" + join(names) + ")" + outcome + update_suffix(a);
  auto& e = t.evidence;
  e["sessions"] = sessions;
  e["trick_sessions"] = trick_sessions;
  e["tricks"] = tricks;
  e["trick_commands"] = trick_cmds;
  e["recipients"] = rcpts;
  e["trick_replies"] = codes;
  e["accepted"] = accepted;
  e["replies"] = {{"2xx", d.r2}, {"4xx", d.r4}, {"5xx", d.r5}};
  if (!sample.empty()) e["sample"] = sample;
  if (d.ended) e["mean_session_s"] = double(d.dur_ms) / 1000.0 / d.ended;
  e["first_seen"] = eve_timestamp(a.first_ts);
  e["last_seen"] = eve_timestamp(a.last_ts);
  e["update"] = a.update;
}

}  // namespace

extern const DetectorDescriptor kSmtpRelayProbe = {
    "smtp-relay-probe",
    1000005,
    DetectorKind::kHostBehaviour,
    "Attempted Information Leak",
    "short SMTP sessions from one source trying relay tricks in MAIL FROM / RCPT TO (percent "
    "hack, bang path, address literal, source route, quoted local part, relay-test markers)",
    4,
    kParams,
    make_detector<SmtpRelayProbe>,
    render,
    {"Relay testers (ORBS and its successors, spammers looking for open relays) connect to a "
     "mail server again and again, each time offering a recipient the server should refuse "
     "unless it relays for anyone. The tricks abuse old address syntax that some mailers still "
     "route: a percent hack (user%victim@home) or bang path (victim!user) makes the server "
     "rewrite the address and send it on; a second domain or an address literal after a full "
     "address (user@victim@[1.2.3.4]) and source routes (<@relay:user@victim>) name a next hop; "
     "a quoted local part (\"user@victim\"@home) smuggles an outside address past a domain "
     "check. A server that answers 250 to any of them can be used to send spam under its name.",
     "Not spoofed: each session is a completed TCP handshake followed by an SMTP dialogue, which "
     "needs the server's replies to reach the source.",
     "Check the replies: 550/553 to every trick means the server refused to relay. If any trick "
     "got 250, test the server with the same address and close the relay (accept mail only for "
     "local domains, relay only for authenticated or internal senders). Block or rate-limit the "
     "source at the perimeter if the probing goes on."},
    /*incident_is_victim=*/false,
    fusion_rank::kPurpose};

}  // namespace harrier
