#include "control/redis_output.h"

#include <hiredis/hiredis.h>

#include "control/redis_link.h"

#include <algorithm>
#include <chrono>

namespace harrier {

namespace {
constexpr size_t kPipeline = 256;  // records sent before their replies are read
constexpr auto kFirstBackoff = std::chrono::milliseconds(100);
constexpr auto kMaxBackoff = std::chrono::milliseconds(5000);
}  // namespace

const char* RedisOutputConfig::mode_name(Mode m) {
  switch (m) {
    case Mode::kList:
      return "list";
    case Mode::kChannel:
      return "channel";
    case Mode::kStream:
      return "stream";
  }
  return "?";
}

std::string RedisOutputConfig::where() const {
  return RedisEndpoint{server, port, socket, {}, {}}.where();
}

RedisOutput::RedisOutput(const RedisOutputConfig& cfg, bool lossless)
    : cfg_(cfg), lossless_(lossless) {}

RedisOutput::~RedisOutput() {
  if (thread_.joinable()) finish(0);
}

void RedisOutput::start() {
  thread_ = std::thread([this] { run(); });
}

void RedisOutput::push(std::string line) {
  std::unique_lock lock(mu_);
  if (buffer_.size() >= cfg_.buffer) {
    if (!lossless_) {
      dropped_.add();
      return;
    }
    // Offline nothing is dropped: wait for Redis to make room, but not past
    // drain_timeout. After that Redis is taken for gone: records are counted
    // undelivered at once until the sender makes room again, so a read with
    // Redis down ends in bounded time and says so.
    const auto wait = std::chrono::duration<double>(cfg_.drain_timeout);
    if (given_up_ ||
        !room_.wait_for(lock, wait, [&] { return buffer_.size() < cfg_.buffer || stop_; }) ||
        stop_) {
      given_up_ = true;
      undelivered_.add();
      return;
    }
  }
  buffer_.push_back(std::move(line));
  buffered_.set(buffer_.size());
  lock.unlock();
  wake_.notify_one();
}

uint64_t RedisOutput::finish(double timeout_s) {
  {
    std::unique_lock lock(mu_);
    empty_.wait_for(lock, std::chrono::duration<double>(timeout_s),
                    [&] { return buffer_.empty(); });
    stop_ = true;
  }
  wake_.notify_all();
  room_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mu_);
  undelivered_.add(buffer_.size());
  const uint64_t left = undelivered_.get();
  buffer_.clear();
  buffered_.set(0);
  return left;
}

void RedisOutput::run() {
  auto backoff = kFirstBackoff;
  std::deque<std::string> batch;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      wake_.wait(lock, [&] { return stop_ || !buffer_.empty(); });
      if (stop_) break;
      const size_t n = std::min(buffer_.size(), kPipeline);
      batch.assign(buffer_.begin(), buffer_.begin() + long(n));
    }
    if (!ctx_ && !connect()) {
      std::unique_lock lock(mu_);
      wake_.wait_for(lock, backoff, [&] { return stop_; });
      backoff = std::min(backoff * 2, kMaxBackoff);
      continue;
    }
    backoff = kFirstBackoff;
    const int answered = send(batch);
    std::lock_guard lock(mu_);
    buffer_.erase(buffer_.begin(), buffer_.begin() + std::max(answered, 0));
    buffered_.set(buffer_.size());
    if (buffer_.size() < cfg_.buffer) given_up_ = false;
    room_.notify_all();
    if (buffer_.empty()) empty_.notify_all();
  }
  disconnect();
}

bool RedisOutput::connect() {
  std::string error;
  ctx_ = redis_connect({cfg_.server, cfg_.port, cfg_.socket, cfg_.user, cfg_.password}, &error);
  if (!ctx_) {
    set_error(error);
    failures_.add();
    connected_.set(0);
    return false;
  }
  connects_.add();
  connected_.set(1);
  return true;
}

void RedisOutput::disconnect() {
  if (ctx_) redisFree(ctx_);
  ctx_ = nullptr;
  connected_.set(0);
}

int RedisOutput::send(const std::deque<std::string>& batch) {
  const std::string& key = cfg_.key;
  const std::string maxlen = std::to_string(cfg_.maxlen);
  for (const std::string& line : batch) {
    switch (cfg_.mode) {
      case RedisOutputConfig::Mode::kList:
        redisAppendCommand(ctx_, "RPUSH %b %b", key.data(), key.size(), line.data(), line.size());
        break;
      case RedisOutputConfig::Mode::kChannel:
        redisAppendCommand(ctx_, "PUBLISH %b %b", key.data(), key.size(), line.data(), line.size());
        break;
      case RedisOutputConfig::Mode::kStream:
        if (cfg_.maxlen)
          redisAppendCommand(ctx_, "XADD %b MAXLEN ~ %s * eve %b", key.data(), key.size(),
                             maxlen.c_str(), line.data(), line.size());
        else
          redisAppendCommand(ctx_, "XADD %b * eve %b", key.data(), key.size(), line.data(),
                             line.size());
        break;
    }
  }
  int answered = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    void* r = nullptr;
    if (redisGetReply(ctx_, &r) != REDIS_OK) {
      // The connection broke: what was answered is done, the rest goes again.
      set_error(ctx_->errstr);
      disconnect();
      return answered;
    }
    const auto* reply = static_cast<redisReply*>(r);
    if (reply->type == REDIS_REPLY_ERROR) {
      // Redis will refuse this record every time (a key of another type):
      // counted and named, not retried.
      set_error(std::string(reply->str, reply->len));
      rejected_.add();
    } else {
      delivered_.add();
    }
    freeReplyObject(r);
    ++answered;
  }
  return answered;
}

void RedisOutput::set_error(const std::string& e) {
  std::lock_guard lock(mu_);
  error_ = e;
}

std::string RedisOutput::last_error() const {
  std::lock_guard lock(mu_);
  return error_;
}

PegValues RedisOutput::pegs() const {
  return {"redis",
          kPegs,
          {delivered_.get(), dropped_.get(), rejected_.get(), undelivered_.get(), connects_.get(),
           failures_.get(), buffered_.get(), connected_.get()}};
}

}  // namespace harrier
