// Redis as one server or as a Redis Cluster, behind one interface: each
// command names the key it touches and goes to the node that serves that
// key's hash slot (CRC16 of the key's hash tag, as Cluster computes it).
// The topology comes from CLUSTER SLOTS at connect time; a MOVED reply
// updates it and the command is sent again to the node named, an ASK reply
// sends it there once (after ASKING). A server without cluster support is
// one node that serves every slot.
//
// hiredis 0.14 (Debian 12) has no cluster client; this is the small part of
// one harrier needs: single-key commands, and pipelines of them.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "control/redis_link.h"

namespace harrier {

// Cluster's hash slot of a key: CRC16 (XMODEM) of its hash tag (the part
// between the first '{' and the next '}', when not empty) or of the whole key.
uint16_t redis_key_slot(std::string_view key);

class RedisRouter {
 public:
  // Connects to `seed` and learns the topology. False with *error when the
  // seed or a node it names cannot be reached.
  bool connect(const RedisEndpoint& seed, std::string* error, double reply_timeout_s = 5.0);
  void close();
  bool connected() const { return !nodes_.empty(); }
  bool cluster() const { return cluster_; }
  size_t node_count() const { return nodes_.size(); }
  // Which node serves `key` (an index below node_count()).
  size_t node_of(std::string_view key) const;

  // One command on `key`'s node (`key` "" : the seed's). nullptr when a
  // connection broke: the router is then closed (connect again).
  RedisReplyPtr command(std::string_view key, const std::vector<std::string_view>& args,
                        std::string* error);
  // Pipelining: queue commands, then read their replies in the order queued.
  void append(std::string_view key, const std::vector<std::string_view>& args);
  RedisReplyPtr reply(std::string* error);
  // A MOVED or ASK the router could not follow (a pipeline had replies due
  // on that node): send the command again.
  static bool is_redirect(const redisReply* r);

 private:
  struct Node {
    std::string host;
    uint16_t port = 0;
    RedisLink link;
  };
  struct Queued {  // in a cluster, kept for a resend after MOVED/ASK
    size_t node;
    std::string key;
    std::vector<std::string> args;
  };

  bool load_slots(std::string* error);
  size_t node_at(const std::string& host, uint16_t port, std::string* error);
  // Follows a MOVED/ASK reply: the command again where Redis says.
  RedisReplyPtr redirect(RedisReplyPtr r, std::string_view key,
                         const std::vector<std::string>& args, std::string* error);

  RedisEndpoint seed_;
  double timeout_s_ = 5.0;
  bool cluster_ = false;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<uint16_t> slot_node_;  // [16384] -> index into nodes_
  std::deque<Queued> queued_;
};

}  // namespace harrier
