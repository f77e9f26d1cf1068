// EVE records to Redis, the way Suricata users ship them: RPUSH to a list,
// PUBLISH to a channel, or XADD to a stream, with hiredis.
//
// The output thread hands each EVE line to push() and goes on; a thread of
// this output's own talks to Redis. Between them, a bounded buffer: a Redis
// that is down or slow never stalls the output thread (and so never the
// packets behind it). Records leave the buffer only once Redis accepted
// them, so a dropped connection loses nothing: the sender reconnects with
// back-off and sends them again (at least once). What cannot be kept is
// counted, never silent:
//  - live (`run`), a full buffer refuses the newest record (`dropped`);
//  - offline (`read`), push() waits for room instead, and finish() waits up
//    to `drain_timeout` for Redis to take the rest; what it did not take is
//    `undelivered`, named at exit.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "dataplane/pegs.h"

struct redisContext;

namespace harrier {

struct RedisOutputConfig {
  enum class Mode : uint8_t { kList, kChannel, kStream };
  bool enabled = false;
  std::string server = "127.0.0.1";
  uint16_t port = 6379;
  std::string socket;          // a UNIX socket path: used instead of server:port
  std::string user, password;  // AUTH, when a password is set
  Mode mode = Mode::kList;
  std::string key = "harrier";
  uint64_t maxlen = 0;        // stream: XADD MAXLEN ~ maxlen (0: unbounded)
  uint32_t buffer = 65536;    // records waiting for Redis
  double drain_timeout = 30;  // read: seconds the end of a run waits for Redis
  bool operator==(const RedisOutputConfig&) const = default;

  static const char* mode_name(Mode m);
  // "unix:/run/redis.sock" or "127.0.0.1:6379", for messages.
  std::string where() const;
};

class RedisOutput {
 public:
  // `lossless`: push() waits for room (offline) rather than refusing.
  RedisOutput(const RedisOutputConfig& cfg, bool lossless);
  ~RedisOutput();
  RedisOutput(const RedisOutput&) = delete;
  RedisOutput& operator=(const RedisOutput&) = delete;

  void start();
  // The output thread: one EVE record (a JSON line without its newline).
  void push(std::string line);
  // After the last push: waits until Redis took everything or `timeout_s`
  // passed, then stops the sender. Returns the records left undelivered.
  uint64_t finish(double timeout_s);

  // Any thread.
  PegValues pegs() const;
  std::string last_error() const;
  uint64_t delivered() const { return delivered_.get(); }
  uint64_t dropped() const { return dropped_.get(); }
  const RedisOutputConfig& config() const { return cfg_; }

  // Its counter table (pegs): the rows of stats outputs.redis.
  static constexpr PegInfo kPegs[] = {
      {"delivered", PegKind::kSum, "EVE records Redis accepted"},
      {"dropped", PegKind::kSum, "records refused because the buffer was full (run only)"},
      {"rejected", PegKind::kSum,
       "records Redis answered with an error (e.g. WRONGTYPE at the key)"},
      {"undelivered", PegKind::kSum,
       "records Redis never took: still buffered when the run ended, or given up on by read"},
      {"connects", PegKind::kSum, "connections made to Redis"},
      {"connect_failures", PegKind::kSum,
       "connection attempts that failed (retried with back-off)"},
      {"buffered", PegKind::kNow, "records waiting for Redis"},
      {"connected", PegKind::kNow, "1 while connected to Redis"},
  };

 private:
  void run();
  bool connect();
  void disconnect();
  // Sends up to `n` records from the front of the buffer in one pipeline;
  // returns how many Redis answered (accepted or refused), or -1 when the
  // connection failed (nothing is taken off the buffer then).
  int send(const std::deque<std::string>& batch);
  void set_error(const std::string& e);

  const RedisOutputConfig cfg_;
  const bool lossless_;
  redisContext* ctx_ = nullptr;
  std::thread thread_;

  mutable std::mutex mu_;
  std::condition_variable wake_;   // the sender: records came, or stop
  std::condition_variable room_;   // push(): room came (lossless)
  std::condition_variable empty_;  // finish(): the buffer emptied
  std::deque<std::string> buffer_;
  bool stop_ = false;
  bool given_up_ = false;  // lossless: Redis stayed full past drain_timeout (see push)
  std::string error_;

  Peg delivered_, dropped_, rejected_, undelivered_, connects_, failures_, buffered_, connected_;
};

}  // namespace harrier
