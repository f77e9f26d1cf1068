#include "control/correlator.h"

#include <hiredis/hiredis.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <thread>
#include <unordered_set>

#include <spdlog/spdlog.h>

#include "dataplane/prefix.h"
#include "detectors/host_event_wire.h"
#include "detectors/incident_fusion.h"
#include "detectors/registry.h"
#include "engine/host_stage.h"

namespace harrier {

namespace {

constexpr uint32_t kReadCount = 256;      // entries per stream per XREADGROUP
constexpr uint32_t kChunk = 4096;         // events per run of the detectors
constexpr uint32_t kTargetsPerPart = 64;  // distinct targets kept per sensor and subject
constexpr uint32_t kAlertSlots = 64;
constexpr size_t kMaxSensors = 4096;  // names a correlator learns (hostile streams: bounded)
constexpr size_t kMaxSensorName = 256;
constexpr size_t kMaxRunId = 64;
constexpr size_t kMaxBlob = 16u << 20;  // a sensor's round: 65,536 events of at most 101 bytes
constexpr uint64_t kMaxAheadMs = 86'400'000;  // a watermark ahead of Redis's clock
// An event ahead of its entry's watermark by more than the longest answer
// grace (60 s) and a batch: not a sensor's.
constexpr uint64_t kMaxAheadOfWatermarkNs = 600'000'000'000ull;

// Renews a lease only while this correlator still holds it.
constexpr const char* kRenewScript =
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";
// Takes a lease that is free or already this correlator's (after a
// reconnect, its own lease may still run).
constexpr const char* kTakeScript =
    "local v = redis.call('get', KEYS[1]) "
    "if v == false or v == ARGV[1] then "
    "redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end return 0";
// Acknowledges only while the lease is still this correlator's: a stale
// owner (its lease lapsed unseen) must not acknowledge what the next owner
// claimed. The lease and the stream share a hash tag, so one node has both.
constexpr const char* kAckScript =
    "if redis.call('get', KEYS[1]) ~= ARGV[1] then return -1 end "
    "return redis.call('xack', KEYS[2], ARGV[2], unpack(ARGV, 3))";
constexpr size_t kAckBatch = 1000;  // ids per script call (Lua's unpack limit is ~8000)
constexpr const char* kReleaseScript =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) "
    "else return 0 end";

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (char c : s)
    h = (h ^ uint8_t(c)) * 1099511628211ull;
  return h;
}

// The stream-time milliseconds of an entry id "1700000000000-3".
uint64_t id_ms(std::string_view id) {
  uint64_t ms = 0;
  for (char c : id) {
    if (c < '0' || c > '9') break;
    ms = ms * 10 + uint64_t(c - '0');
  }
  return ms;
}

bool parse_u64(std::string_view s, uint64_t* v);

// The id right after "ms-seq" ("" when it is not one).
std::string next_id(std::string_view id) {
  const size_t dash = id.find('-');
  uint64_t ms = 0, seq = 0;
  if (dash == std::string_view::npos || !parse_u64(id.substr(0, dash), &ms) ||
      !parse_u64(id.substr(dash + 1), &seq))
    return {};
  return seq == UINT64_MAX ? std::to_string(ms + 1) + "-0"
                           : std::to_string(ms) + "-" + std::to_string(seq + 1);
}

bool parse_u64(std::string_view s, uint64_t* v) {
  if (s.empty() || s.size() > 20) return false;
  uint64_t x = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    const uint64_t d = uint64_t(c - '0');
    if (x > (UINT64_MAX - d) / 10) return false;
    x = x * 10 + d;
  }
  *v = x;
  return true;
}

std::string_view str(const redisReply* r) {
  return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)
             ? std::string_view(r->str, r->len)
             : std::string_view();
}

struct AddrKey {
  uint64_t hi, lo;
  uint8_t family;
  bool operator==(const AddrKey&) const = default;
};
struct AddrKeyHash {
  size_t operator()(const AddrKey& k) const noexcept {
    return size_t((k.hi * 0x9E3779B97F4A7C15ull) ^ (k.lo + k.family) * 0xC2B2AE3D27D4EB4Full);
  }
};
AddrKey addr_key(const IpAddr& a) {
  AddrKey k{};
  std::memcpy(&k.hi, a.bytes, 8);
  std::memcpy(&k.lo, a.bytes + 8, 8);
  k.family = a.family;
  return k;
}

// Whose activity an event is: the victim's for the detectors whose incidents
// are about victims (backscatter), else the prober's.
const IpAddr& subject_of(const HostEvent& e) {
  if (e.kind == HostEventKind::kDetector) {
    const auto reg = detector_registry();
    if (e.detector < reg.size() && reg[e.detector]->incident_is_victim) return e.dst;
  }
  return e.src;
}

}  // namespace

// What one sensor sent about one subject.
struct SensorPart {
  uint16_t sensor = 0;
  uint64_t events = 0, first_ts = 0, last_ts = 0;
  std::vector<std::pair<IpAddr, uint16_t>> targets;  // distinct (target, port), bounded
  bool more_targets = false;
};

struct Subject {
  std::vector<SensorPart> parts;
  uint64_t last_ts = 0;
};

// One sensor as one partition hears it.
struct SensorClock {
  bool seen = false, ended = false;
  uint64_t watermark = 0;
  uint64_t last_ms = 0;  // stream time of its latest entry
  uint64_t name_hash = 0;
  std::string run;
  uint64_t last_number = 0;
};

struct Held {  // an event waiting for the watermark
  HostEvent e;
  uint64_t name_hash;  // its sensor's: orders events of one instant alike on every correlator
  uint64_t entry;      // sequence number of the entry it came in
  uint16_t sensor;
};

// The heap's order: packet time, then the sensor (by name, so every
// correlator agrees), its packet number, and within one packet the order the
// sensor emitted its events in (entry, then place in it): a heap is not
// stable, and one packet's events (an SMTP segment's sample chunks) must
// keep their order.
bool held_later(const Held& a, const Held& b) {
  return std::tie(a.e.ts, a.name_hash, a.e.order, a.entry, a.e.seq) >
         std::tie(b.e.ts, b.name_hash, b.e.order, b.entry, b.e.seq);
}

struct EntryRef {
  std::string id;
  uint64_t seq = 0;
  uint64_t max_ts = 0;
  uint32_t waiting = 0;  // events not yet handed to the detectors
  bool acked = false;
};

struct Correlator::Partition {
  uint32_t p = 0;
  std::string stream;
  HostStage stage;
  std::unique_ptr<IncidentFusion> fusion;
  std::vector<SensorClock> clocks;       // by sensor id
  std::vector<Held> heap;                // min-heap on (ts, name_hash, order)
  std::deque<EntryRef> entries;          // read, not yet acknowledged, in read order
  uint64_t next_entry = 0;               // sequence number of the next entry read
  uint64_t released = 0;                 // the watermark handed to the detectors
  uint64_t max_ts = 0;                   // latest event time seen
  uint64_t first_ms = 0, latest_ms = 0;  // stream time of the first and latest entry
  uint64_t input_start = 0;
  std::string last_id;                      // of the latest entry read
  bool quiet_read = false;                  // the latest read found nothing new in this stream
  bool finished = false;                    // draining: the end of input was run
  std::unordered_set<std::string> written;  // alerts an earlier owner wrote (replay)
  std::unordered_map<AddrKey, Subject, AddrKeyHash> subjects;
  uint64_t subjects_pruned_at = 0;
  std::vector<HostEvent> chunk;
  std::vector<Alert> slots = std::vector<Alert>(kAlertSlots);
  std::deque<Alert> spill;
  std::vector<Alert> raised, fused;
};

Correlator::Correlator(const Config& cfg, const RuntimeSnapshot& snap, AlertOutput& out,
                       const CorrelatorOptions& opts)
    : cfg_(cfg), cc_(cfg.correlation), snap_(snap), out_(out), opts_(opts) {
  consumer_ = cc_.consumer;
  if (consumer_.empty()) {
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    consumer_ = std::string(host) + ":" + std::to_string(getpid());
  }
  parts_.resize(cc_.partitions);
  for (const std::string& s : cc_.sensors)
    expected_.push_back(sensor_id(s));
  share_ = cc_.partitions;
}

Correlator::~Correlator() = default;

uint16_t Correlator::sensor_id(const std::string& name) {
  auto it = sensor_ids_.find(name);
  if (it != sensor_ids_.end()) return it->second;
  const uint16_t id = uint16_t(sensor_names_.size());
  sensor_names_.push_back(name);
  sensor_ids_.emplace(name, id);
  c_.sensors.set(sensor_names_.size());
  return id;
}

uint64_t Correlator::now_ms() const {
  return uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count());
}

void Correlator::redis_failed(const std::string& what) {
  c_.redis_errors.add();
  if (what != error_) spdlog::warn("correlate: {}: {}", cc_.redis.where(), what);
  error_ = what;
}

bool Correlator::ensure_connected() {
  if (link_.connected()) return true;
  std::string e;
  if (!link_.connect(cc_.redis, &e, 10.0)) {
    redis_failed("cannot connect: " + e);
    return false;
  }
  if (!ever_connected_) {
    ever_connected_ = true;
    return true;
  }
  // Back after a broken connection: a read may have been delivered to this
  // consumer without reaching it, so every partition is taken again from
  // its pending entries (its own included), as a takeover would; and a
  // Redis that restarted empty needs its consumer groups again.
  for (uint32_t p = 0; p < cc_.partitions; ++p)
    if (parts_[p]) release(p, true);
  last_lease_ms_ = 0;
  if (!setup_groups(&e)) {
    redis_failed(e);
    link_.close();
    return false;
  }
  return true;
}

bool Correlator::setup_groups(std::string* error) {
  for (uint32_t p = 0; p < cc_.partitions; ++p) {
    std::string e;
    const std::string s = cc_.stream(p);
    RedisReplyPtr r = link_.command(s, {"XGROUP", "CREATE", s, cc_.group, "0", "MKSTREAM"}, &e);
    if (!r) {
      *error = cc_.redis.where() + ": " + e;
      return false;
    }
    if (r->type == REDIS_REPLY_ERROR && reply_text(r.get()).rfind("BUSYGROUP", 0) != 0) {
      *error =
          cc_.redis.where() + ": XGROUP CREATE " + s + " " + cc_.group + ": " + reply_text(r.get());
      return false;
    }
  }
  return true;
}

// Leases: hold a fair share of the partitions (the correlators alive share
// them), renew what is held, give back what is beyond the share.
void Correlator::manage_leases() {
  const uint64_t now = now_ms();
  if (now - last_lease_ms_ < cc_.lease_ms / 3) return;
  last_lease_ms_ = now;
  std::string e;
  const std::string members = cc_.key + ":correlators";
  const std::string lease = std::to_string(cc_.lease_ms);
  RedisReplyPtr r = link_.command(members, {"ZADD", members, std::to_string(now), consumer_}, &e);
  if (!r) return redis_failed(e);
  link_.command(members, {"ZREMRANGEBYSCORE", members, "-inf", std::to_string(now - cc_.lease_ms)},
                &e);
  r = link_.command(members, {"ZCARD", members}, &e);
  if (!r) return redis_failed(e);
  const uint64_t alive = std::max<long long>(r->type == REDIS_REPLY_INTEGER ? r->integer : 1, 1);
  share_ = opts_.drain ? cc_.partitions : uint32_t((cc_.partitions + alive - 1) / alive);

  if (!renew_leases()) return;
  uint32_t held = 0;
  for (uint32_t p = 0; p < cc_.partitions; ++p) {
    if (!parts_[p]) continue;
    if (held < share_)
      ++held;
    else
      release(p, false);
  }
  for (uint32_t p = 0; p < cc_.partitions && held < share_; ++p) {
    if (parts_[p]) continue;
    r = link_.command(cc_.lease(p), {"EVAL", kTakeScript, "1", cc_.lease(p), consumer_, lease}, &e);
    if (!r) return redis_failed(e);
    if (r->type == REDIS_REPLY_INTEGER && r->integer == 1) {
      acquire(p);
      if (parts_[p]) ++held;
    }
  }
  c_.partitions.set(held);
}

// Renews every lease held; a partition whose lease another correlator took
// is let go. Also called during a long replay, which must not outlast them.
bool Correlator::renew_leases() {
  last_renew_ms_ = now_ms();
  const std::string lease = std::to_string(cc_.lease_ms);
  for (uint32_t p = 0; p < cc_.partitions; ++p) {
    if (!parts_[p]) continue;
    std::string e;
    RedisReplyPtr r = link_.command(
        cc_.lease(p), {"EVAL", kRenewScript, "1", cc_.lease(p), consumer_, lease}, &e);
    if (!r) {
      redis_failed(e);
      return false;
    }
    if (r->type != REDIS_REPLY_INTEGER || r->integer != 1) lost_lease(p);
  }
  return true;
}

void Correlator::lost_lease(uint32_t p) {
  spdlog::warn("correlate: lost the lease of partition {} (another correlator holds it)", p);
  c_.leases_lost.add();
  release(p, true);
}

// A partition taken: fresh state, the alerts an earlier owner wrote, then
// the entries it left pending.
void Correlator::acquire(uint32_t p) {
  auto part = std::make_unique<Partition>();
  part->p = p;
  part->stream = cc_.stream(p);
  std::string e;
  if (!part->stage.init(snap_, 0, p, cc_.partitions, kChunk, &e)) {
    spdlog::error("correlate: partition {}: {}", p, e);
    return;
  }
  part->fusion = IncidentFusion::create(cfg_.fusion, 0, 0, &e);
  if (!part->fusion) {
    spdlog::error("correlate: partition {}: {}", p, e);
    return;
  }
  part->chunk.reserve(kChunk);
  RedisReplyPtr r = link_.command(cc_.checkpoint(p), {"ZRANGE", cc_.checkpoint(p), "0", "-1"}, &e);
  if (!r) return redis_failed(e);
  if (r->type == REDIS_REPLY_ARRAY)
    for (size_t i = 0; i < r->elements; ++i)
      part->written.emplace(str(r->element[i]));
  parts_[p] = std::move(part);
  if (!claim_pending(*parts_[p])) {
    parts_[p].reset();
    return;
  }
  spdlog::info("correlate: holds partition {} ({} alerts written before, {} entries pending)", p,
               parts_[p]->written.size(), parts_[p]->entries.size());
}

void Correlator::release(uint32_t p, bool lost) {
  if (!lost) {
    std::string e;
    link_.command(cc_.lease(p), {"EVAL", kReleaseScript, "1", cc_.lease(p), consumer_}, &e);
  }
  // Its unacknowledged entries stay pending: the next owner claims them.
  c_.buffered.set(c_.buffered.get() -
                  std::min<uint64_t>(c_.buffered.get(), parts_[p]->heap.size()));
  parts_[p].reset();
}

bool Correlator::claim_pending(Partition& part) {
  const uint32_t p = part.p;
  std::string cursor = "0-0";
  for (;;) {
    std::string e;
    RedisReplyPtr r = link_.command(part.stream,
                                    {"XAUTOCLAIM", part.stream, cc_.group, consumer_, "0", cursor,
                                     "COUNT", std::to_string(kReadCount)},
                                    &e);
    if (!r) {
      redis_failed(e);
      return false;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2) {
      redis_failed("XAUTOCLAIM " + part.stream + ": " + reply_text(r.get()));
      return false;
    }
    // Every claimed entry is taken before any is used: the line then
    // stands where the first run's did, whatever order the sensors'
    // entries come back in.
    const redisReply* entries = r->element[1];
    for (size_t i = 0; entries && i < entries->elements; ++i)
      take_entry(part, entries->element[i], true);
    if (now_ms() - last_renew_ms_ > cc_.lease_ms / 3 &&
        (!renew_leases() || parts_[p].get() != &part))
      return false;  // Redis went away, or this very lease did
    if (r->elements >= 3 && r->element[2]->type == REDIS_REPLY_ARRAY)
      c_.claimed_gone.add(r->element[2]->elements);
    cursor = std::string(str(r->element[0]));
    if (cursor == "0-0" || cursor.empty()) return true;
  }
}

// One stream entry: s, r, n, w, P, [e], [end].
void Correlator::take_entry(Partition& part, const redisReply* entry, bool claimed) {
  if (!entry || entry->type != REDIS_REPLY_ARRAY || entry->elements < 2) return;  // deleted
  const std::string id(str(entry->element[0]));
  const redisReply* f = entry->element[1];
  c_.entries.add();
  if (claimed) c_.claimed.add();
  EntryRef ref;
  ref.id = id;
  part.last_id = id;
  ref.seq = part.next_entry++;
  const uint64_t ms = id_ms(id);
  if (!part.first_ms) part.first_ms = ms;
  part.latest_ms = std::max(part.latest_ms, ms);

  std::string_view sensor, run, number, watermark, blob, partitions;
  bool end = false;
  for (size_t i = 0; f && f->type == REDIS_REPLY_ARRAY && i + 1 < f->elements; i += 2) {
    const std::string_view k = str(f->element[i]), v = str(f->element[i + 1]);
    if (k == "s")
      sensor = v;
    else if (k == "r")
      run = v;
    else if (k == "n")
      number = v;
    else if (k == "w")
      watermark = v;
    else if (k == "e")
      blob = v;
    else if (k == "P")
      partitions = v;
    else if (k == "end")
      end = true;
  }
  uint64_t n = 0, w = 0, pc = cc_.partitions;
  auto refuse = [&](const std::string& why) {
    c_.bad.add();
    // Named, but a stream full of junk must not flood the log: the first
    // ten, then one in a thousand (the counter has them all).
    if (c_.bad.get() <= 10 || c_.bad.get() % 1000 == 0)
      spdlog::warn("correlate: {} entry {}: {} (acknowledged, not used; {} refused so far)",
                   part.stream, id, why, c_.bad.get());
    part.entries.push_back(std::move(ref));
  };
  if (sensor.empty() || !parse_u64(number, &n) || !parse_u64(watermark, &w))
    return refuse("missing or malformed s, n or w");
  if (run.size() > kMaxRunId) return refuse("a run id of " + std::to_string(run.size()) + " bytes");
  if (blob.size() > kMaxBlob)
    return refuse("events of " + std::to_string(blob.size()) +
                  " bytes (a sensor's round is at most " + std::to_string(kMaxBlob >> 20) +
                  " MiB)");
  // A watermark far ahead of the Redis server's clock is not a sensor's:
  // taken, it would make every later event late.
  if (ms && w / 1'000'000 > ms + kMaxAheadMs)
    return refuse("a watermark " + std::to_string((w / 1'000'000 - ms) / 1000) +
                  " s ahead of the Redis clock");
  if (sensor.size() > kMaxSensorName)
    return refuse("a sensor name of " + std::to_string(sensor.size()) + " bytes (at most " +
                  std::to_string(kMaxSensorName) + ")");
  if (!sensor_ids_.count(std::string(sensor)) && sensor_names_.size() >= kMaxSensors)
    return refuse("a sensor beyond the " + std::to_string(kMaxSensors) + " this correlator tracks");
  if (!partitions.empty() && (!parse_u64(partitions, &pc) || pc != cc_.partitions))
    return refuse("sensor '" + std::string(sensor) + "' publishes " + std::string(partitions) +
                  " partitions, this correlator reads " + std::to_string(cc_.partitions));
  const uint16_t sid = sensor_id(std::string(sensor));
  if (part.clocks.size() <= sid) part.clocks.resize(sid + 1);
  SensorClock& c = part.clocks[sid];
  if (!c.seen) c.name_hash = fnv1a(sensor);
  if (c.seen && run == c.run && n <= c.last_number) {
    c_.duplicates.add();
    part.entries.push_back(std::move(ref));
    return;
  }
  if (run != c.run) {  // the sensor started again: its numbers restart, it is back
    c.run = std::string(run);
    c.ended = false;
  }
  c.last_number = n;
  c.seen = true;
  c.last_ms = ms;
  c.watermark = std::max(c.watermark, w);
  if (end) c.ended = true;
  if (!blob.empty()) {
    std::vector<HostEvent> events;
    std::string why;
    if (!decode_wire_events(blob, uint16_t(detector_registry().size()), events, &why))
      return refuse(why);
    // A sensor sends an event once its batch is out, so no event is far
    // beyond the watermark it came with: one that is would wait forever.
    for (const HostEvent& e : events)
      if (e.ts > w && e.ts - w > kMaxAheadOfWatermarkNs)
        return refuse("an event " + std::to_string((e.ts - w) / 1'000'000'000ull) +
                      " s ahead of its sensor's watermark");
    for (HostEvent& e : events) {
      if (e.ts < part.released) c_.late.add();
      part.max_ts = std::max(part.max_ts, e.ts);
      if (!part.input_start || e.ts < part.input_start) part.input_start = e.ts;
      ref.max_ts = std::max(ref.max_ts, e.ts);
      part.heap.push_back({e, c.name_hash, ref.seq, sid});
      std::push_heap(part.heap.begin(), part.heap.end(), held_later);
    }
    ref.waiting = uint32_t(events.size());
    c_.buffered.set(c_.buffered.get() + events.size());
  }
  part.entries.push_back(std::move(ref));
}

// Takes the entries of one stream out of an XREADGROUP reply.
void Correlator::take_read(const redisReply* r) {
  if (!r || r->type != REDIS_REPLY_ARRAY) return;  // nothing new
  for (size_t i = 0; i < r->elements; ++i) {
    const redisReply* s = r->element[i];
    if (s->type != REDIS_REPLY_ARRAY || s->elements < 2) continue;
    const std::string_view name = str(s->element[0]);
    for (auto& p : parts_) {
      if (!p || p->stream != name) continue;
      const redisReply* entries = s->element[1];
      p->quiet_read = entries->elements == 0;
      for (size_t k = 0; k < entries->elements; ++k)
        take_entry(*p, entries->element[k], false);
    }
  }
}

void Correlator::read_new() {
  std::vector<std::string> keys;
  for (const auto& p : parts_)
    if (p && !p->finished) keys.push_back(p->stream);
  if (keys.empty()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    return;
  }
  for (auto& p : parts_)
    if (p) p->quiet_read = true;
  const std::string count = std::to_string(kReadCount);
  std::string e;
  if (!link_.cluster()) {
    // One server: one read of every stream held, blocking up to 100 ms.
    std::vector<std::string_view> a{"XREADGROUP", "GROUP", cc_.group, consumer_, "COUNT",
                                    count,        "BLOCK", "100",     "STREAMS"};
    for (const std::string& k : keys)
      a.push_back(k);
    for (size_t i = 0; i < keys.size(); ++i)
      a.push_back(">");
    RedisReplyPtr r = link_.command(keys[0], a, &e);
    if (!r) return redis_failed(e);
    if (r->type == REDIS_REPLY_ERROR) return redis_failed("XREADGROUP: " + reply_text(r.get()));
    return take_read(r.get());
  }
  // A Cluster takes no read across slots: one read per stream, pipelined
  // to each stream's node, without blocking; a pause when all were empty.
  for (const std::string& k : keys)
    link_.append(k,
                 {"XREADGROUP", "GROUP", cc_.group, consumer_, "COUNT", count, "STREAMS", k, ">"});
  bool any = false;
  for (size_t i = 0; i < keys.size(); ++i) {
    RedisReplyPtr r = link_.reply(&e);
    if (!r) return redis_failed(e);
    if (r->type == REDIS_REPLY_ERROR) {
      redis_failed("XREADGROUP " + keys[i] + ": " + reply_text(r.get()));
      continue;
    }
    any = any || r->type == REDIS_REPLY_ARRAY;
    take_read(r.get());
  }
  if (!any) std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

// Hands the detectors every held event the watermark passed, in packet-time
// order, then the incidents' alerts to the output.
void Correlator::advance(Partition& part, bool final) {
  uint64_t lo = UINT64_MAX, hi = 0;
  bool open = false, heard = false;
  auto consider = [&](uint16_t sid) {
    if (part.clocks.size() <= sid) part.clocks.resize(sid + 1);
    const SensorClock& c = part.clocks[sid];
    if (c.seen) heard = true, hi = std::max(hi, c.watermark);
    if (c.ended) return;
    // A sensor silent for sensor_timeout (by the stream's own clock) is not
    // waited for: it may be gone.
    const uint64_t since = c.seen ? c.last_ms : part.first_ms;
    if (part.latest_ms > since && part.latest_ms - since > cc_.sensor_timeout_ms) return;
    open = true;
    lo = std::min(lo, c.seen ? c.watermark : 0);
  };
  for (uint16_t sid = 0; sid < part.clocks.size(); ++sid)
    if (part.clocks[sid].seen) consider(sid);
  for (uint16_t sid : expected_)
    consider(sid);
  uint64_t line;
  if (final)
    line = UINT64_MAX;
  else if (!open)
    line = heard ? part.max_ts : 0;  // every sensor ended (or went quiet): all of it
  else
    line = hi > cc_.lateness_ns && hi - cc_.lateness_ns > lo ? hi - cc_.lateness_ns : lo;
  if (!final) line = std::max(line, part.released);  // ticks never step back
  // Nothing new to hand on: the line stood still and no late event waits below it.
  if (!final && line <= part.released && (part.heap.empty() || part.heap.front().e.ts > line))
    return;

  ShardCtx ctx{part.p, 0, snap_.rt, nullptr};
  ctx.answer_grace_ns = 0;  // outcomes are merged by packet time already
  ctx.input_start_ns = part.input_start;
  for (;;) {
    part.chunk.clear();
    while (!part.heap.empty() && part.heap.front().e.ts <= line && part.chunk.size() < kChunk) {
      std::pop_heap(part.heap.begin(), part.heap.end(), held_later);
      Held h = part.heap.back();
      part.heap.pop_back();
      // An order every correlator derives alike from the event itself, so a
      // replay names incidents as the first run did.
      h.e.order = ((h.e.ts / 1000) << 13) | ((h.name_hash & 0x1f) << 8) | (h.e.order & 0xff);
      h.e.seq = uint32_t(part.chunk.size());
      part.chunk.push_back(h.e);
      // Entries leave only from the front, so sequence numbers index them.
      EntryRef& from = part.entries[size_t(h.entry - part.entries.front().seq)];
      --from.waiting;
      // Who saw what of whom.
      Subject& s = part.subjects[addr_key(subject_of(h.e))];
      s.last_ts = std::max(s.last_ts, h.e.ts);
      auto it = std::find_if(s.parts.begin(), s.parts.end(),
                             [&](const SensorPart& sp) { return sp.sensor == h.sensor; });
      if (it == s.parts.end()) {
        s.parts.push_back({});
        it = s.parts.end() - 1;
        it->sensor = h.sensor;
        it->first_ts = h.e.ts;
      }
      ++it->events;
      it->last_ts = std::max(it->last_ts, h.e.ts);
      const std::pair<IpAddr, uint16_t> t{h.e.dst, h.e.dport};
      if (std::find(it->targets.begin(), it->targets.end(), t) == it->targets.end()) {
        if (it->targets.size() < kTargetsPerPart)
          it->targets.push_back(t);
        else
          it->more_targets = true;
      }
    }
    const bool last_chunk = part.heap.empty() || part.heap.front().e.ts > line;
    const uint64_t now = final && last_chunk  ? UINT64_MAX
                         : last_chunk         ? line
                         : part.chunk.empty() ? 0
                                              : part.chunk.back().ts;
    c_.events.add(part.chunk.size());
    c_.buffered.set(c_.buffered.get() - std::min<uint64_t>(c_.buffered.get(), part.chunk.size()));
    part.spill.clear();
    AlertSink sink(part.slots.data(), kAlertSlots, &part.spill, SIZE_MAX);
    ctx.alerts = &sink;
    part.stage.run(snap_, ctx, {part.chunk.data(), part.chunk.size()}, now);
    part.raised.clear();
    part.raised.insert(part.raised.end(), part.slots.begin(), part.slots.begin() + sink.in_slots());
    part.raised.insert(part.raised.end(), part.spill.begin(), part.spill.end());
    std::sort(part.raised.begin(), part.raised.end(), [](const Alert& x, const Alert& y) {
      return std::tie(x.ts, x.order, x.detector, x.update) <
             std::tie(y.ts, y.order, y.detector, y.update);
    });
    part.fused.clear();
    for (const Alert& a : part.raised) {
      part.fusion->advance(a.ts, part.fused);
      part.fusion->add(a, a.ts, part.fused);
    }
    if (last_chunk) {
      if (final)
        part.fusion->flush(part.fused);
      else
        part.fusion->advance(line, part.fused);
    }
    write_alerts(part, part.fused);
    if (last_chunk) break;
  }
  part.released = std::max(part.released, line == UINT64_MAX ? part.max_ts : line);
  if (final) part.finished = true;

  // Subjects nobody spoke of for a day are forgotten (bounded memory).
  if (part.released > part.subjects_pruned_at + 600'000'000'000ull) {
    part.subjects_pruned_at = part.released;
    const uint64_t horizon = 86'400'000'000'000ull + cc_.hold_ns;
    for (auto it = part.subjects.begin(); it != part.subjects.end();)
      it = part.released > horizon && it->second.last_ts < part.released - horizon
               ? part.subjects.erase(it)
               : std::next(it);
  }
}

void Correlator::write_alerts(Partition& part, std::vector<Alert>& fused) {
  if (fused.empty()) return;
  writing_ = &part;
  std::vector<std::pair<uint64_t, std::string>> done;  // (ms, name)
  for (const Alert& a : fused) {
    if (a.disposition != AlertDisposition::kClosed) {
      // The same incident, update and detector, replayed: an earlier owner
      // wrote it before it left.
      const std::string name = incident_id_text(a.incident_id) + "/" + std::to_string(a.detector) +
                               "/" + std::to_string(a.update) +
                               (a.disposition == AlertDisposition::kFolded ? "f" : "a") + "/" +
                               std::to_string(a.ts);
      if (part.written.count(name)) {
        c_.suppressed.add();
        continue;
      }
      done.emplace_back(a.ts / 1'000'000ull, name);
    }
    out_.write_now(a);
    if (a.disposition == AlertDisposition::kAlert) c_.alerts.add();
  }
  out_.flush();
  writing_ = nullptr;
  if (done.empty()) return;
  // Written, then said so: a correlator that dies in between writes them
  // again after a takeover (at least once, never lost).
  std::vector<std::string> args{"ZADD", cc_.checkpoint(part.p)};
  for (const auto& [ms, name] : done) {
    args.push_back(std::to_string(ms));
    args.push_back(name);
  }
  std::vector<std::string_view> a(args.begin(), args.end());
  std::string e;
  if (!link_.command(args[1], a, &e)) redis_failed(e);
}

// XACK what was used and is older than `hold`; trim what every reader took.
void Correlator::acknowledge(Partition& part, bool all) {
  std::vector<EntryRef*> due;
  for (EntryRef& r : part.entries) {
    if (r.acked || r.waiting) continue;
    if (!all && (r.max_ts + cc_.hold_ns >= part.released || part.released == 0)) continue;
    due.push_back(&r);
  }
  if (due.empty()) return;
  const std::string lease = cc_.lease(part.p);
  for (size_t at = 0; at < due.size(); at += kAckBatch) {
    const size_t end = std::min(due.size(), at + kAckBatch);
    std::vector<std::string_view> a{"EVAL",      kAckScript, "2",      lease,
                                    part.stream, consumer_,  cc_.group};
    for (size_t i = at; i < end; ++i)
      a.push_back(due[i]->id);
    std::string e;
    RedisReplyPtr r = link_.command(part.stream, a, &e);
    if (!r) return redis_failed(e);  // said again next time
    if (r->type == REDIS_REPLY_INTEGER && r->integer < 0) return lost_lease(part.p);
    if (r->type == REDIS_REPLY_ERROR)
      return redis_failed("XACK " + part.stream + ": " + reply_text(r.get()));
    for (size_t i = at; i < end; ++i)
      due[i]->acked = true;
    c_.acked.add(end - at);
  }
  while (!part.entries.empty() && part.entries.front().acked)
    part.entries.pop_front();
  std::string e;
  if (cc_.trim) {
    // Everything below the group's oldest pending entry (whoever holds
    // it: a consumer that left may still) or, none pending, up to the last
    // entry read is acknowledged. Exact, not "~": entries are few and large
    // (a round of events each), and "~" keeps whole nodes of them.
    RedisReplyPtr r = link_.command(part.stream, {"XPENDING", part.stream, cc_.group}, &e);
    if (!r) return redis_failed(e);
    std::string min;
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2 &&
        r->element[0]->type == REDIS_REPLY_INTEGER)
      min = r->element[0]->integer > 0 ? std::string(str(r->element[1])) : next_id(part.last_id);
    if (!min.empty()) link_.command(part.stream, {"XTRIM", part.stream, "MINID", min}, &e);
  }
  // The written-alert record needs only what a replay could raise again.
  if (part.released > cc_.hold_ns + 3'600'000'000'000ull && !all) {
    const uint64_t keep_ms = (part.released - cc_.hold_ns - 3'600'000'000'000ull) / 1'000'000ull;
    link_.command(
        cc_.checkpoint(part.p),
        {"ZREMRANGEBYSCORE", cc_.checkpoint(part.p), "-inf", "(" + std::to_string(keep_ms)}, &e);
  }
}

bool Correlator::drained() const {
  for (const auto& p : parts_) {
    if (!p) return false;  // someone else's, or nobody's yet
    if (!p->quiet_read || !p->heap.empty()) return false;
    bool heard = false;
    for (const SensorClock& c : p->clocks) {
      if (c.seen) heard = true;
      if (c.seen && !c.ended) return false;
    }
    for (uint16_t sid : expected_)
      if (sid >= p->clocks.size() || !p->clocks[sid].ended) return false;
    if (!heard) return false;
  }
  return true;
}

bool Correlator::run(const std::atomic<bool>& stop, std::string* error) {
  auto backoff = std::chrono::milliseconds(100);
  while (!stop.load(std::memory_order_relaxed) && !ensure_connected()) {
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
  }
  if (stop.load()) return true;
  if (!setup_groups(error)) return false;
  spdlog::info("correlate: {} as consumer '{}' of group '{}', {} partitions at {}", cc_.key,
               consumer_, cc_.group, cc_.partitions, cc_.redis.where());
  while (!stop.load(std::memory_order_relaxed)) {
    if (!ensure_connected()) {
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
      continue;
    }
    backoff = std::chrono::milliseconds(100);
    manage_leases();
    read_new();
    for (auto& p : parts_) {
      if (!p || p->finished) continue;
      advance(*p, false);
      acknowledge(*p, false);
    }
    if (opts_.drain && drained()) {
      for (auto& p : parts_) {
        if (p) advance(*p, true);
        if (p) acknowledge(*p, true);
      }
      break;
    }
  }
  // Leaving: leases go back so another correlator takes over at once; what
  // was not acknowledged stays pending for it.
  for (uint32_t p = 0; p < cc_.partitions; ++p)
    if (parts_[p]) release(p, false);
  if (link_.connected()) {
    std::string e;
    link_.command(cc_.key + ":correlators", {"ZREM", cc_.key + ":correlators", consumer_}, &e);
  }
  return true;
}

void Correlator::annotate(const Alert& a, nlohmann::ordered_json& harrier) {
  if (!writing_) return;
  const DetectorDescriptor& d = *detector_registry()[a.detector];
  const auto it = writing_->subjects.find(addr_key(d.incident_is_victim ? a.dst : a.src));
  if (it == writing_->subjects.end()) return;
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  std::vector<const SensorPart*> parts;
  for (const SensorPart& sp : it->second.parts)
    parts.push_back(&sp);
  std::sort(parts.begin(), parts.end(), [&](const SensorPart* x, const SensorPart* y) {
    return sensor_names_[x->sensor] < sensor_names_[y->sensor];
  });
  for (const SensorPart* sp : parts) {
    std::vector<std::string> hosts, ports, targets;
    for (const auto& [addr, port] : sp->targets) {
      hosts.push_back(ip_to_string(addr));
      ports.push_back(std::to_string(port));
      targets.push_back(ip_to_string(addr) + (port ? ":" + std::to_string(port) : ""));
    }
    auto distinct = [](std::vector<std::string>& v) {
      std::sort(v.begin(), v.end());
      v.erase(std::unique(v.begin(), v.end()), v.end());
      return v.size();
    };
    nlohmann::ordered_json j;
    j["sensor"] = sensor_names_[sp->sensor];
    j["events"] = sp->events;
    j["first"] = eve_timestamp(sp->first_ts);
    j["last"] = eve_timestamp(sp->last_ts);
    j["hosts"] = distinct(hosts);
    j["ports"] = distinct(ports);
    j["targets"] = targets.size() > 16
                       ? std::vector<std::string>(targets.begin(), targets.begin() + 16)
                       : targets;
    if (sp->more_targets) j["more_targets"] = true;
    list.push_back(std::move(j));
  }
  harrier["sensors"] = std::move(list);
}

PegValues Correlator::pegs() const {
  return {"correlate",
          kPegs,
          {c_.entries.get(), c_.events.get(), c_.duplicates.get(), c_.late.get(), c_.bad.get(),
           c_.claimed.get(), c_.claimed_gone.get(), c_.acked.get(), c_.alerts.get(),
           c_.suppressed.get(), c_.leases_lost.get(), c_.redis_errors.get(), c_.partitions.get(),
           c_.buffered.get(), c_.sensors.get()}};
}

std::vector<PegValues> Correlator::detector_pegs() const {
  std::vector<PegValues> out;
  const auto reg = detector_registry();
  for (const auto& p : parts_) {
    if (!p) continue;
    for (const AttachedDetector& a : p->stage.attached()) {
      const Detector* d = snap_.detectors[a.index];
      if (!d || !a.state) continue;
      const auto rows = d->pegs();
      auto it = std::find_if(out.begin(), out.end(),
                             [&](const PegValues& v) { return v.component == reg[a.index]->id; });
      if (it == out.end()) {
        out.push_back({std::string(reg[a.index]->id), rows, std::vector<uint64_t>(rows.size())});
        it = out.end() - 1;
      }
      a.state->add_pegs(it->values.data());
    }
  }
  return out;
}

}  // namespace harrier
