#include "control/event_publisher.h"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "detectors/host_event_wire.h"

namespace harrier {

namespace {
constexpr size_t kRoundEvents = 65536;  // events one round takes off the ring
constexpr auto kFirstBackoff = std::chrono::milliseconds(100);
constexpr auto kMaxBackoff = std::chrono::milliseconds(5000);
// An idle partition hears the moving watermark at most this often.
constexpr uint64_t kMarkEveryNs = 200'000'000ull;

uint64_t steady_ns() {
  return uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::steady_clock::now().time_since_epoch())
                      .count());
}

// Tells one run of a sensor from its next (its entry numbers restart).
std::string make_run_id() {
  std::random_device rd;
  const uint64_t r = (uint64_t(rd()) << 32) ^ rd() ^
                     uint64_t(std::chrono::system_clock::now().time_since_epoch().count());
  return std::to_string(r);
}
}  // namespace

EventPublisher::EventPublisher(const CorrelationConfig& cfg, uint64_t answer_grace_ns,
                               bool lossless)
    : cfg_(cfg),
      grace_ns_(answer_grace_ns),
      lossless_(lossless),
      run_id_(make_run_id()),
      ring_(std::max<uint32_t>(cfg.buffer, 1)),
      next_number_(cfg.partitions, 1),
      mark_ns_(cfg.partitions, 0),
      marked_w_(cfg.partitions, 0),
      blobs_(cfg.partitions) {}

EventPublisher::~EventPublisher() {
  if (thread_.joinable()) finish(0);
}

void EventPublisher::start() {
  thread_ = std::thread([this] { run(); });
}

void EventPublisher::on_batch(const EventTapBatch& b) noexcept {
  uint64_t n = 0;
  for (uint32_t s = 0; s < b.n_lists; ++s)
    n += b.n_events[s] + b.outcomes[s].size();
  const uint64_t w = b.max_ts > grace_ns_ ? b.max_ts - grace_ns_ : 0;
  std::unique_lock lock(mu_);
  if (n == 0 && !b.end_of_input) {
    // Nothing to send but time: move the last waiting batch's watermark on.
    if (batches_.size() > taken_batches_) {
      batches_.back().watermark = std::max(batches_.back().watermark, w);
      return;
    }
  } else if (size_ + n > ring_.size()) {
    const auto fits = [&] { return size_ + n <= ring_.size() || stop_; };
    if (!lossless_ || n > ring_.size()) {
      dropped_.add(lossless_ ? 0 : n);
      if (lossless_) undelivered_.add(n);
      n = 0;
    } else if (given_up_ ||
               !room_.wait_for(lock, std::chrono::duration<double>(cfg_.drain_timeout), fits) ||
               stop_) {
      // Offline, Redis stayed full past drain_timeout: taken for gone, so a
      // read with Redis down ends in bounded time and says so.
      given_up_ = true;
      undelivered_.add(n);
      n = 0;
    }
  }
  if (n == 0 && !b.end_of_input && batches_.size() > taken_batches_) {
    // Its events did not fit (counted above): only its time moves on, as
    // for an empty batch, so an outage adds nothing per batch.
    batches_.back().watermark = std::max(batches_.back().watermark, w);
    return;
  }
  uint64_t copied = 0;
  for (uint32_t s = 0; s < b.n_lists && copied < n; ++s) {
    auto put = [&](const HostEvent& e) { ring_[(head_ + size_ + copied++) % ring_.size()] = e; };
    for (uint32_t i = 0; i < b.n_events[s]; ++i)
      put(b.events[s][i]);
    for (const HostEvent& e : b.outcomes[s])
      put(e);
  }
  size_ += copied;
  batches_.push_back({w, uint32_t(copied), b.end_of_input});
  buffered_.set(size_);
  lock.unlock();
  wake_.notify_one();
}

uint64_t EventPublisher::finish(double timeout_s) {
  {
    std::unique_lock lock(mu_);
    empty_.wait_for(lock, std::chrono::duration<double>(timeout_s),
                    [&] { return batches_.empty(); });
    stop_ = true;
  }
  wake_.notify_all();
  room_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mu_);
  undelivered_.add(size_);
  size_ = 0;
  batches_.clear();
  buffered_.set(0);
  return undelivered_.get();
}

void EventPublisher::run() {
  auto backoff = kFirstBackoff;
  for (;;) {
    if (round_.empty()) {
      std::unique_lock lock(mu_);
      wake_.wait(lock, [&] { return stop_ || !batches_.empty(); });
      if (stop_) break;
      lock.unlock();
      build_round();
      if (round_.empty()) continue;
    }
    if (!link_.connected()) {
      std::string error;
      if (!link_.connect(cfg_.redis, &error)) {
        set_error(error);
        failures_.add();
        std::unique_lock lock(mu_);
        wake_.wait_for(lock, backoff, [&] { return stop_; });
        if (stop_) break;
        backoff = std::min(backoff * 2, kMaxBackoff);
        continue;
      }
      connects_.add();
      connected_.set(1);
    }
    if (!send_round()) {
      connected_.set(0);
      // Reconnect and send what was not answered, after a pause: a Redis
      // that accepts connections and breaks them must not make this spin.
      std::unique_lock lock(mu_);
      wake_.wait_for(lock, backoff, [&] { return stop_; });
      if (stop_) break;
      backoff = std::min(backoff * 2, kMaxBackoff);
      continue;
    }
    backoff = kFirstBackoff;
    round_.clear();
    release_taken();
  }
  link_.close();
  connected_.set(0);
}

// Takes the front batches (up to kRoundEvents events) and cuts them into
// one entry per partition that has events, plus marks and ends.
void EventPublisher::build_round() {
  uint64_t w = 0;
  bool end = false;
  std::vector<bool> has(cfg_.partitions, false);
  for (std::string& b : blobs_)
    b.clear();
  std::vector<uint32_t> counts(cfg_.partitions, 0);
  {
    std::lock_guard lock(mu_);
    size_t at = head_;
    while (taken_batches_ < batches_.size()) {
      const Batch& b = batches_[taken_batches_];
      if (taken_batches_ > 0 && taken_events_ + b.n_events > kRoundEvents) break;
      for (uint32_t i = 0; i < b.n_events; ++i, at = (at + 1) % ring_.size()) {
        const HostEvent& e = ring_[at];
        const uint32_t p = slot_owner(e.key_slot, cfg_.partitions);
        append_wire_event(blobs_[p], e);
        ++counts[p];
      }
      taken_events_ += b.n_events;
      w = std::max(w, b.watermark);
      end = end || b.end;
      ++taken_batches_;
    }
  }
  round_watermark_ = std::to_string(w);
  const uint64_t now = steady_ns();
  for (uint32_t p = 0; p < cfg_.partitions; ++p) {
    const bool events = counts[p] > 0;
    const bool mark = w > marked_w_[p] && now - mark_ns_[p] >= kMarkEveryNs;
    if (!events && !mark && !end) continue;
    Entry& e = round_.emplace_back();
    e.partition = p;
    e.n_events = counts[p];
    e.number = std::to_string(next_number_[p]++);
    e.blob.swap(blobs_[p]);
    e.end = end;
    marked_w_[p] = w;
    mark_ns_[p] = now;
  }
  if (round_.empty()) release_taken();  // only a watermark too soon to mark
}

// The round's batches are done with: off the ring, room for the emit stage.
void EventPublisher::release_taken() {
  std::lock_guard lock(mu_);
  batches_.erase(batches_.begin(), batches_.begin() + long(taken_batches_));
  head_ = (head_ + taken_events_) % ring_.size();
  size_ -= taken_events_;
  taken_batches_ = taken_events_ = 0;
  buffered_.set(size_);
  if (size_ < ring_.size()) given_up_ = false;
  room_.notify_all();
  if (batches_.empty()) empty_.notify_all();
}

bool EventPublisher::send_round() {
  const std::string maxlen = std::to_string(cfg_.maxlen);
  const std::string partitions = std::to_string(cfg_.partitions);
  for (const Entry& e : round_) {
    if (e.number.empty()) continue;  // answered before a broken connection
    const std::string stream = cfg_.stream(e.partition);
    std::vector<std::string_view> a;
    a.reserve(20);
    auto add = [&a](std::string_view x, std::string_view y) {
      a.push_back(x);
      a.push_back(y);
    };
    add("XADD", stream);
    if (cfg_.maxlen) add("MAXLEN", "~"), a.push_back(maxlen);
    a.push_back("*");
    add("s", cfg_.sensor);
    add("r", run_id_);
    add("n", e.number);
    add("w", round_watermark_);
    add("P", partitions);
    if (!e.blob.empty()) add("e", e.blob);
    if (e.end) add("end", "1");
    link_.append(stream, a);
  }
  for (Entry& e : round_) {
    if (e.number.empty()) continue;
    std::string error;
    RedisReplyPtr r = link_.reply(&error);
    if (!r) {
      set_error(error);
      return false;
    }
    if (RedisRouter::is_redirect(r.get())) {
      // The slot moved (a Cluster reshard) under a pipeline: the router
      // learnt where; this round goes again from a fresh connection.
      set_error(reply_text(r.get()));
      link_.close();
      return false;
    }
    if (r->type == REDIS_REPLY_ERROR) {
      set_error(reply_text(r.get()));
      rejected_.add();
      std::lock_guard lock(mu_);
      undelivered_.add(e.n_events);
    } else {
      entries_.add();
      events_.add(e.n_events);
    }
    e.number.clear();
  }
  return true;
}

void EventPublisher::set_error(const std::string& e) {
  std::lock_guard lock(mu_);
  error_ = e;
}

std::string EventPublisher::last_error() const {
  std::lock_guard lock(mu_);
  return error_;
}

PegValues EventPublisher::pegs() const {
  return {"correlation",
          kPegs,
          {events_.get(), entries_.get(), dropped_.get(), undelivered_.get(), rejected_.get(),
           connects_.get(), failures_.get(), buffered_.get(), connected_.get()}};
}

}  // namespace harrier
