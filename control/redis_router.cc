#include "control/redis_router.h"

#include <hiredis/hiredis.h>

#include <cstring>

namespace harrier {

namespace {
constexpr size_t kSlots = 16384;

std::vector<std::string> copy_args(const std::vector<std::string_view>& args) {
  return std::vector<std::string>(args.begin(), args.end());
}

std::vector<std::string_view> views(const std::vector<std::string>& args) {
  return std::vector<std::string_view>(args.begin(), args.end());
}

// "MOVED 3999 127.0.0.1:6381" -> host, port (the last ':' splits: IPv6 hosts).
bool parse_redirect(std::string_view text, bool* ask, std::string* host, uint16_t* port) {
  *ask = text.rfind("ASK ", 0) == 0;
  if (!*ask && text.rfind("MOVED ", 0) != 0) return false;
  const size_t sp = text.rfind(' ');
  const size_t colon = text.rfind(':');
  if (sp == std::string_view::npos || colon == std::string_view::npos || colon < sp) return false;
  *host = std::string(text.substr(sp + 1, colon - sp - 1));
  uint32_t p = 0;
  for (char c : text.substr(colon + 1)) {
    if (c < '0' || c > '9' || p > 65535) return false;
    p = p * 10 + uint32_t(c - '0');
  }
  *port = uint16_t(p);
  return p > 0 && p <= 65535;
}
}  // namespace

bool RedisRouter::is_redirect(const redisReply* r) {
  if (!r || r->type != REDIS_REPLY_ERROR) return false;
  const std::string_view t(r->str, r->len);
  return t.rfind("MOVED ", 0) == 0 || t.rfind("ASK ", 0) == 0;
}

uint16_t redis_key_slot(std::string_view key) {
  const size_t open = key.find('{');
  if (open != std::string_view::npos) {
    const size_t close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1)
      key = key.substr(open + 1, close - open - 1);
  }
  uint16_t crc = 0;
  for (char c : key) {
    crc ^= uint16_t(uint8_t(c)) << 8;
    for (int i = 0; i < 8; ++i)
      crc = (crc & 0x8000) ? uint16_t((crc << 1) ^ 0x1021) : uint16_t(crc << 1);
  }
  return uint16_t(crc % kSlots);
}

bool RedisRouter::connect(const RedisEndpoint& seed, std::string* error, double reply_timeout_s) {
  close();
  seed_ = seed;
  timeout_s_ = reply_timeout_s;
  auto n = std::make_unique<Node>();
  n->host = seed.socket.empty() ? seed.server : seed.socket;
  n->port = seed.socket.empty() ? seed.port : 0;
  if (!n->link.connect(seed, error, reply_timeout_s)) return false;
  nodes_.push_back(std::move(n));
  slot_node_.assign(kSlots, 0);
  if (!load_slots(error)) {
    close();
    return false;
  }
  return true;
}

void RedisRouter::close() {
  nodes_.clear();
  queued_.clear();
  cluster_ = false;
}

// CLUSTER SLOTS: [[first, last, [host, port, id], replicas...], ...]. A
// server without cluster support answers an error: one node, every slot.
bool RedisRouter::load_slots(std::string* error) {
  RedisReplyPtr r = nodes_[0]->link.command({"CLUSTER", "SLOTS"}, error);
  if (!r) return false;
  if (r->type == REDIS_REPLY_ERROR) {
    cluster_ = false;
    return true;
  }
  if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
    *error = "CLUSTER SLOTS: no slots assigned (is the cluster created?)";
    return false;
  }
  cluster_ = true;
  size_t covered = 0;
  for (size_t i = 0; i < r->elements; ++i) {
    const redisReply* range = r->element[i];
    if (range->type != REDIS_REPLY_ARRAY || range->elements < 3) continue;
    const redisReply* master = range->element[2];
    if (range->element[0]->type != REDIS_REPLY_INTEGER ||
        range->element[1]->type != REDIS_REPLY_INTEGER || master->type != REDIS_REPLY_ARRAY ||
        master->elements < 2 || master->element[1]->type != REDIS_REPLY_INTEGER)
      continue;
    const long long first = range->element[0]->integer, last = range->element[1]->integer;
    std::string host(master->element[0]->str ? master->element[0]->str : "",
                     master->element[0]->len);
    // An empty host means "the address you reached me at".
    if (host.empty() || host == "?") host = seed_.server;
    const size_t node = node_at(host, uint16_t(master->element[1]->integer), error);
    if (node == SIZE_MAX) return false;
    for (long long s = std::max(0LL, first); s <= last && s < long(kSlots); ++s, ++covered)
      slot_node_[size_t(s)] = uint16_t(node);
  }
  if (covered < kSlots) {
    *error = "CLUSTER SLOTS: " + std::to_string(kSlots - covered) + " of " +
             std::to_string(kSlots) + " slots have no node (cluster_state is not ok)";
    return false;
  }
  return true;
}

// The node at host:port, connected on first use. The seed is matched too,
// so it is not connected twice.
size_t RedisRouter::node_at(const std::string& host, uint16_t port, std::string* error) {
  for (size_t i = 0; i < nodes_.size(); ++i)
    if (nodes_[i]->host == host && nodes_[i]->port == port) return i;
  auto n = std::make_unique<Node>();
  n->host = host;
  n->port = port;
  RedisEndpoint at = seed_;  // the same credentials on every node
  at.socket.clear();
  at.server = host;
  at.port = port;
  std::string e;
  if (!n->link.connect(at, &e, timeout_s_)) {
    *error = "cluster node " + at.where() + ": " + e;
    return SIZE_MAX;
  }
  nodes_.push_back(std::move(n));
  return nodes_.size() - 1;
}

size_t RedisRouter::node_of(std::string_view key) const {
  if (!cluster_ || key.empty()) return 0;
  return slot_node_[redis_key_slot(key)];
}

RedisReplyPtr RedisRouter::command(std::string_view key, const std::vector<std::string_view>& args,
                                   std::string* error) {
  if (nodes_.empty()) {
    *error = "not connected";
    return nullptr;
  }
  const size_t node = node_of(key);
  RedisReplyPtr r = nodes_[node]->link.command(args, error);
  if (!r) {
    close();
    return nullptr;
  }
  if (cluster_ && r->type == REDIS_REPLY_ERROR)
    return redirect(std::move(r), key, copy_args(args), error);
  return r;
}

void RedisRouter::append(std::string_view key, const std::vector<std::string_view>& args) {
  if (nodes_.empty()) return;
  const size_t node = node_of(key);
  nodes_[node]->link.append(args);
  if (cluster_)
    queued_.push_back({node, std::string(key), copy_args(args)});
  else
    queued_.push_back({node, {}, {}});
}

RedisReplyPtr RedisRouter::reply(std::string* error) {
  if (nodes_.empty() || queued_.empty()) {
    *error = nodes_.empty() ? "not connected" : "no command queued";
    return nullptr;
  }
  Queued q = std::move(queued_.front());
  queued_.pop_front();
  RedisReplyPtr r = nodes_[q.node]->link.reply(error);
  if (!r) {
    close();
    return nullptr;
  }
  if (cluster_ && r->type == REDIS_REPLY_ERROR) return redirect(std::move(r), q.key, q.args, error);
  return r;
}

RedisReplyPtr RedisRouter::redirect(RedisReplyPtr r, std::string_view key,
                                    const std::vector<std::string>& args, std::string* error) {
  bool ask = false;
  std::string host;
  uint16_t port = 0;
  if (!parse_redirect(std::string_view(r->str, r->len), &ask, &host, &port)) return r;
  if (host.empty()) host = seed_.server;
  const size_t node = node_at(host, port, error);
  if (node == SIZE_MAX) {
    close();
    return nullptr;
  }
  // The slot moved for good: the map learns it now, the rest at the next connect.
  if (!ask && !key.empty()) slot_node_[redis_key_slot(key)] = uint16_t(node);
  // Replies still due on that node's link would come first: only redirect
  // with nothing queued there (else answer the redirection, for the caller
  // to send again: is_redirect()).
  for (const Queued& q : queued_)
    if (q.node == node) return r;
  RedisLink& link = nodes_[node]->link;
  if (ask) {
    RedisReplyPtr a = link.command({"ASKING"}, error);
    if (!a) {
      close();
      return nullptr;
    }
  }
  RedisReplyPtr again = link.command(views(args), error);
  if (!again) close();
  return again;
}

}  // namespace harrier
