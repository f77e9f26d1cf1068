// One hiredis connection, the way every Redis user of harrier opens it:
// TCP or UNIX socket, a connect timeout, a reply timeout (a Redis that
// stops answering counts as down), and replies owned by the caller.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct redisContext;
struct redisReply;

namespace harrier {

struct RedisEndpoint {
  std::string server = "127.0.0.1";
  uint16_t port = 6379;
  std::string socket;    // a UNIX socket path: used instead of server:port
  std::string user;      // AUTH [user] password when a password is set (Redis 6 ACL user)
  std::string password;  // never printed
  bool operator==(const RedisEndpoint&) const = default;
  // "unix:/run/redis.sock" or "127.0.0.1:6379", for messages.
  std::string where() const;
};

struct RedisReplyFree {
  void operator()(redisReply* r) const;
};
using RedisReplyPtr = std::unique_ptr<redisReply, RedisReplyFree>;

// Opens a connection (and authenticates, when the endpoint has a
// password); nullptr with *error set when Redis is not there or refuses.
redisContext* redis_connect(const RedisEndpoint& at, std::string* error,
                            double reply_timeout_s = 5.0);

class RedisLink {
 public:
  RedisLink() = default;
  ~RedisLink() { close(); }
  RedisLink(const RedisLink&) = delete;
  RedisLink& operator=(const RedisLink&) = delete;

  bool connect(const RedisEndpoint& at, std::string* error, double reply_timeout_s = 5.0);
  void close();
  bool connected() const { return ctx_ != nullptr; }

  // One command, its arguments binary-safe. nullptr when the connection
  // broke (it is closed, *error says why); an error reply is returned as
  // such (REDIS_REPLY_ERROR) for the caller to judge.
  RedisReplyPtr command(const std::vector<std::string_view>& args, std::string* error);
  // Pipelining: queue commands, then read their replies in order.
  void append(const std::vector<std::string_view>& args);
  RedisReplyPtr reply(std::string* error);

 private:
  redisContext* ctx_ = nullptr;
};

// The text of an error or status reply, for messages.
std::string reply_text(const redisReply* r);

}  // namespace harrier
