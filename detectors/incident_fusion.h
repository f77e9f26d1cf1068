// One activity, one incident, across detectors.
//
// Several detectors often see one activity of one source: a SYN scan that
// touches the portmapper raises vertical-scan and portmap-probe; an NBNS
// sweep whose targets stay silent raises netbios-sweep and horizontal-scan;
// nmap -O raises os-fingerprint and flag-anomaly. The fusion stage runs on
// the one thread that emits alerts in packet order, after the host shards,
// and makes each activity one incident:
//
//  - an incident is a subject (the source; the victim, for backscatter)
//    and the alerts about it whose activity starts within `window` of the
//    incident's latest;
//  - the most specific detector (DetectorDescriptor::fusion_rank; a bare
//    probe ranks lowest) names the incident. Its alerts go out as the
//    incident's first alert and updates, carrying the incident's id. Every
//    other alert is folded in: passed on as an evidence record (kFolded)
//    that the output lists on the incident's next alert ("also",
//    "touched"), never written as an alert of its own;
//  - an incident's first alert waits `lookahead` of packet time, plus the
//    answer grace within which scan outcomes arrive, so that a more
//    specific detector speaking soon after names it from the start. One
//    that speaks later takes the incident over with an update;
//  - folded findings that no alert has carried yet go out on an update once
//    the incident has been quiet for `lookahead` (at most
//    `max_fold_updates` of them), and on a last update when it closes.
//
// The stage sees the same alerts in the same order whatever the worker
// count, so the incidents are the same too. Its table is fixed at start;
// live, when it is full the least recently active incident closes early
// (counted), and offline nothing is ever dropped.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <deque>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "dataplane/bounded_table.h"
#include "detectors/alert.h"
#include "detectors/detector.h"
#include "detectors/evidence.h"

namespace harrier {

struct FusionConfig {
  bool enabled = true;
  uint64_t lookahead_ns = 5'000'000'000ull;
  uint64_t window_ns = 3600'000'000'000ull;
  uint32_t capacity = 16384;  // open incidents
  uint32_t max_fold_updates = 4;
  bool operator==(const FusionConfig&) const = default;
};

struct FusionCounters {
  uint64_t incidents = 0;     // incidents opened
  uint64_t folded = 0;        // alerts folded into another detector's incident
  uint64_t takeovers = 0;     // a more specific detector named an incident after its first alert
  uint64_t fold_updates = 0;  // updates sent for folded findings alone (closing ones included)
  uint64_t evicted = 0;       // incidents closed early to make room (the table was full)
  uint64_t unfused = 0;       // alerts passed on alone: their incident found no room
  FusionCounters& operator+=(const FusionCounters& o) {
    incidents += o.incidents, folded += o.folded, takeovers += o.takeovers;
    fold_updates += o.fold_updates, evicted += o.evicted, unfused += o.unfused;
    return *this;
  }
};

// An incident id as EVE writes it: 16 hex digits.
std::string incident_id_text(uint64_t id);
// EVE's harrier.incident of a record: its id and, on an alert, the
// detectors it names (the lead first) and how many alerts were folded in.
nlohmann::ordered_json incident_json(const Alert& a);

class IncidentFusion {
 public:
  // `answer_grace_ns`: how long after a probe its connection outcome (and so
  // a scan's alert) arrives.
  static std::unique_ptr<IncidentFusion> create(const FusionConfig& cfg, uint64_t answer_grace_ns,
                                                int socket, std::string* error);

  // Whether `a` joins an incident already open (else it opens one).
  bool joins(const Alert& a) noexcept;
  // One alert, in emit order, at answer clock `clock` (which never steps
  // back). Records to pass on are appended to `out`, in order. Every record
  // of an incident carries the capture_id of the alert that opened it.
  void add(const Alert& a, uint64_t clock, std::vector<Alert>& out) noexcept;
  // The clock moved on: first alerts whose lookahead ran out, folded
  // findings of incidents that went quiet, incidents idle past the window.
  void advance(uint64_t clock, std::vector<Alert>& out) noexcept;
  // End of input: everything held goes out and every incident closes.
  void flush(std::vector<Alert>& out) noexcept;

  const FusionCounters& counters() const noexcept { return counters_; }
  uint32_t open_incidents() const noexcept { return table_ ? table_->size() : 0; }
  // Incidents whose first alert waits for its lookahead now.
  uint32_t held_incidents() const noexcept { return held_; }

 private:
  struct alignas(8) Key {  // aligned: rte_hash_crc loads 8 bytes at a time
    uint8_t addr[16];
    uint8_t family;
    uint8_t victim;  // the subject is the alerts' destination
    uint8_t pad[6];
  };
  struct Open {
    Key key;
    uint64_t last_ts;  // answer clock of the latest alert (BoundedTable's idle time)
    uint32_t lru_prev, lru_next;
    Incident inc;  // SettleList's bookkeeping: when to look at it again
    Alert lead;    // the naming detector's latest alert: held, or the last sent
    uint64_t id, lead_key;
    uint64_t activity_ts;              // packet time of the incident's latest activity
    uint64_t latest_ts, latest_order;  // the latest alert about it
    uint64_t detectors;                // registry bits of every detector in it
    uint32_t sent, folded, fold_updates;
    uint32_t capture_id;  // the incident capture its first alert started
    uint8_t lead_rank;
    bool held;     // `lead` waits for the lookahead
    bool pending;  // folded findings no alert has carried yet
  };
  using Table = BoundedTable<Key, Open>;

  IncidentFusion(const FusionConfig& cfg, uint64_t answer_grace_ns)
      // Room for every open incident's look plus as many stale ones (of
      // incidents closed before their look came up).
      : cfg_(cfg), grace_ns_(answer_grace_ns), settle_(2 * std::max<uint32_t>(cfg.capacity, 64)) {}
  static Key subject_of(const Alert& a) noexcept;
  static uint64_t key_of(const Alert& a) noexcept;
  static uint8_t rank_of(const Alert& a) noexcept;
  bool starts_anew(const Open& o, const Alert& a) const noexcept;
  void pass_alone(const Alert& a, std::vector<Alert>& out) noexcept;
  void send(Open& o, std::vector<Alert>& out, bool latest_time) noexcept;
  void fold(Open& o, const Alert& a, std::vector<Alert>& out) noexcept;
  void close(Open& o, std::vector<Alert>& out) noexcept;

  FusionConfig cfg_;
  uint64_t grace_ns_;
  std::unique_ptr<Table> table_;
  SettleList settle_;
  FusionCounters counters_;
  uint32_t held_ = 0;
};

// The output thread's side: what was folded into each open incident,
// rendered once when it arrives, listed on the incident's alerts.
class IncidentNotes {
 public:
  static constexpr size_t kMaxNotes = 32;  // per incident; beyond, counted
  // Incidents with notes at once. A close mark lost live (a full alert
  // queue) would otherwise leave its notes here for good: past this the
  // oldest go.
  static constexpr size_t kMaxOpen = 1 << 17;

  // A kFolded record and its rendering: remembered on its incident (the
  // latest finding of each detector incident).
  void fold(const Alert& a, const AlertText& t);
  // A kAlert record: its incident's folded findings go into its evidence
  // ("also": what other detectors found; "touched": bare probes of special
  // ports).
  void annotate(const Alert& a, AlertText& t) const;
  // A kClosed record: the incident's notes are no longer needed.
  void close(uint64_t id) { notes_.erase(id); }
  size_t open() const { return notes_.size(); }

 private:
  struct Note {
    uint16_t detector;
    uint64_t key;
    bool touched;
    std::string text;
  };
  struct Notes {
    std::vector<Note> list;
    uint32_t beyond = 0;  // findings past kMaxNotes
  };
  std::unordered_map<uint64_t, Notes> notes_;
  std::deque<uint64_t> opened_;  // ids in the order their first note came
};

}  // namespace harrier
