#include "control/redis_link.h"

#include <hiredis/hiredis.h>

namespace harrier {

std::string RedisEndpoint::where() const {
  return socket.empty() ? server + ":" + std::to_string(port) : "unix:" + socket;
}

void RedisReplyFree::operator()(redisReply* r) const {
  freeReplyObject(r);
}

redisContext* redis_connect(const RedisEndpoint& at, std::string* error, double reply_timeout_s) {
  const timeval connect_timeout{1, 0};
  redisContext* c = at.socket.empty()
                        ? redisConnectWithTimeout(at.server.c_str(), at.port, connect_timeout)
                        : redisConnectUnixWithTimeout(at.socket.c_str(), connect_timeout);
  if (!c || c->err) {
    *error = c ? c->errstr : "cannot allocate a connection";
    if (c) redisFree(c);
    return nullptr;
  }
  const auto whole = long(reply_timeout_s);
  const timeval reply_timeout{whole, long((reply_timeout_s - double(whole)) * 1e6)};
  redisSetTimeout(c, reply_timeout);
  if (!at.password.empty()) {
    auto* r = static_cast<redisReply*>(
        at.user.empty() ? redisCommand(c, "AUTH %b", at.password.data(), at.password.size())
                        : redisCommand(c, "AUTH %b %b", at.user.data(), at.user.size(),
                                       at.password.data(), at.password.size()));
    const bool ok = r && r->type != REDIS_REPLY_ERROR;
    *error = !r   ? std::string("AUTH: ") + (c->errstr[0] ? c->errstr : "no reply")
             : ok ? std::string()
                  : "AUTH refused: " + std::string(r->str, r->len);
    if (r) freeReplyObject(r);
    if (!ok) {
      redisFree(c);
      return nullptr;
    }
  }
  return c;
}

bool RedisLink::connect(const RedisEndpoint& at, std::string* error, double reply_timeout_s) {
  close();
  ctx_ = redis_connect(at, error, reply_timeout_s);
  return ctx_ != nullptr;
}

void RedisLink::close() {
  if (ctx_) redisFree(ctx_);
  ctx_ = nullptr;
}

void RedisLink::append(const std::vector<std::string_view>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (std::string_view a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  redisAppendCommandArgv(ctx_, int(args.size()), argv.data(), lens.data());
}

RedisReplyPtr RedisLink::reply(std::string* error) {
  void* r = nullptr;
  if (!ctx_ || redisGetReply(ctx_, &r) != REDIS_OK || !r) {
    *error = ctx_ ? (ctx_->errstr[0] ? ctx_->errstr : "connection lost") : "not connected";
    if (r) freeReplyObject(r);
    close();
    return nullptr;
  }
  return RedisReplyPtr(static_cast<redisReply*>(r));
}

RedisReplyPtr RedisLink::command(const std::vector<std::string_view>& args, std::string* error) {
  if (!ctx_) {
    *error = "not connected";
    return nullptr;
  }
  append(args);
  return reply(error);
}

std::string reply_text(const redisReply* r) {
  if (!r) return "no reply";
  if (r->type == REDIS_REPLY_ERROR || r->type == REDIS_REPLY_STATUS ||
      r->type == REDIS_REPLY_STRING)
    return std::string(r->str, r->len);
  if (r->type == REDIS_REPLY_INTEGER) return std::to_string(r->integer);
  return "reply of type " + std::to_string(r->type);
}

}  // namespace harrier
