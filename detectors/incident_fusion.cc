#include "detectors/incident_fusion.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>

#include "detectors/registry.h"

namespace harrier {

namespace {

uint64_t mix(uint64_t h, uint64_t v) noexcept {  // splitmix64's finaliser over a running value
  uint64_t z = h ^ (v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2));
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t detector_bit(uint16_t detector) noexcept {
  return detector < 64 ? uint64_t(1) << detector : 0;
}

}  // namespace

std::string incident_id_text(uint64_t id) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(id));
  return buf;
}

std::unique_ptr<IncidentFusion> IncidentFusion::create(const FusionConfig& cfg,
                                                       uint64_t answer_grace_ns, int socket,
                                                       std::string* error) {
  std::unique_ptr<IncidentFusion> f(new IncidentFusion(cfg, answer_grace_ns));
  if (!cfg.enabled) return f;
  static std::atomic<uint32_t> instance{0};  // tests run several pipelines in one process
  f->table_ = Table::create("fusion_" + std::to_string(instance++),
                            std::max<uint32_t>(cfg.capacity, 64), socket, error);
  if (!f->table_) {
    *error = "incident fusion: " + *error + "; lower incidents.capacity";
    return nullptr;
  }
  f->table_->set_owner("incidents", "capacity");
  return f;
}

IncidentFusion::Key IncidentFusion::subject_of(const Alert& a) noexcept {
  const bool victim = detector_registry()[a.detector]->incident_is_victim;
  const IpAddr& s = victim ? a.dst : a.src;
  Key k{};
  std::memcpy(k.addr, s.bytes, 16);
  k.family = s.family;
  k.victim = victim;
  return k;
}

// An alert without a detector incident of its own is one by itself.
uint64_t IncidentFusion::key_of(const Alert& a) noexcept {
  return a.incident_key ? a.incident_key : mix(mix(a.detector, a.order), a.ts);
}

uint8_t IncidentFusion::rank_of(const Alert& a) noexcept {
  return a.bare_probe ? fusion_rank::kBareProbe : detector_registry()[a.detector]->fusion_rank;
}

// Fusion off, or no room: the alert is an incident of its own.
void IncidentFusion::pass_alone(const Alert& a, std::vector<Alert>& out) noexcept {
  Alert& r = out.emplace_back(a);
  r.disposition = AlertDisposition::kAlert;
  r.incident_id = mix(a.detector, key_of(a));
}

// The lead's latest alert goes out as the incident's next one, carrying
// every finding folded in so far (the output lists them).
void IncidentFusion::send(Open& o, std::vector<Alert>& out, bool latest_time) noexcept {
  Alert& r = out.emplace_back(o.lead);
  r.disposition = AlertDisposition::kAlert;
  r.incident_id = o.id;
  r.update = uint8_t(std::min<uint32_t>(255, o.sent++));
  r.folded_detectors = o.detectors & ~detector_bit(o.lead.detector);
  r.capture_id = o.capture_id;
  r.folded_alerts = o.folded;
  if (latest_time) {  // an update for folded findings: it is as recent as they are
    r.ts = std::max(r.ts, o.latest_ts);
    r.order = std::max(r.order, o.latest_order);
  }
  if (o.held) --held_;
  o.held = o.pending = false;
}

void IncidentFusion::fold(Open& o, const Alert& a, std::vector<Alert>& out) noexcept {
  Alert& r = out.emplace_back(a);
  r.disposition = AlertDisposition::kFolded;
  r.incident_id = o.id;
  r.capture_id = o.capture_id;
  ++o.folded;
  ++counters_.folded;
}

// What the incident still owes goes out, then the output may forget it.
void IncidentFusion::close(Open& o, std::vector<Alert>& out) noexcept {
  if (o.held) {
    send(o, out, false);
  } else if (o.pending) {
    ++counters_.fold_updates;
    send(o, out, true);
  }
  Alert& c = out.emplace_back();
  c.disposition = AlertDisposition::kClosed;
  c.incident_id = o.id;
  c.detector = o.lead.detector;
  c.ts = o.latest_ts;
  c.order = o.latest_order;
}

bool IncidentFusion::joins(const Alert& a) noexcept {
  if (!table_) return false;
  const Open* o = table_->find(subject_of(a));
  return o && !starts_anew(*o, a);
}

bool IncidentFusion::starts_anew(const Open& o, const Alert& a) const noexcept {
  return a.first_ts > o.activity_ts && a.first_ts - o.activity_ts > cfg_.window_ns;
}

void IncidentFusion::add(const Alert& a, uint64_t clock, std::vector<Alert>& out) noexcept {
  if (!table_) return pass_alone(a, out);
  const Key k = subject_of(a);
  Table& t = *table_;
  Open* o = t.find(k);
  if (o && starts_anew(*o, a)) {
    close(*o, out);  // the subject's earlier activity is over
    t.remove(o);
    o = nullptr;
  }
  const uint8_t rank = rank_of(a);
  if (!o) {
    if (t.size() >= t.capacity()) {
      Open* old = t.oldest();
      close(*old, out);
      t.remove(old);
      ++counters_.evicted;
    }
    bool created;
    o = t.find_or_insert(k, clock, &created);
    if (!o) {
      ++counters_.unfused;
      return pass_alone(a, out);
    }
    ++counters_.incidents;
    o->capture_id = a.capture_id;
    o->lead = a;
    o->lead_key = key_of(a);
    o->lead_rank = rank;
    // The opening alert's packet number makes a reopened incident (the same
    // detector incident after a window or an early close) a new id.
    o->id = mix(mix(mix(mix(k.family, o->lead_key), a.detector), a.first_ts), a.order);
    for (int i = 0; i < 16; i += 8) {
      uint64_t w;
      std::memcpy(&w, k.addr + i, 8);
      o->id = mix(o->id, w);
    }
    o->activity_ts = std::max(a.last_ts, a.ts);
    o->latest_ts = a.ts, o->latest_order = a.order;
    o->detectors = detector_bit(a.detector);
    // Held for a more specific detector to speak, unless there is no time
    // to wait or no room to remember the wait.
    o->held = cfg_.lookahead_ns > 0 &&
              settle_.add(t.index_of(o), o->inc, clock + grace_ns_ + cfg_.lookahead_ns);
    if (o->held)
      ++held_;
    else
      send(*o, out, false);
    return;
  }
  t.touch(o, clock);
  o->activity_ts = std::max({o->activity_ts, a.last_ts, a.ts});
  if (a.ts > o->latest_ts || (a.ts == o->latest_ts && a.order > o->latest_order))
    o->latest_ts = a.ts, o->latest_order = a.order;
  o->detectors |= detector_bit(a.detector);
  if (a.detector == o->lead.detector && key_of(a) == o->lead_key) {
    o->lead = a;  // the naming detector's own update
    o->lead_rank = rank;
    if (!o->held) send(*o, out, false);
    return;
  }
  if (rank > o->lead_rank) {
    // A more specific account: the former lead's latest becomes evidence.
    fold(*o, o->lead, out);
    o->lead = a;
    o->lead_key = key_of(a);
    o->lead_rank = rank;
    if (!o->held) {
      ++counters_.takeovers;
      send(*o, out, false);
    }
    return;
  }
  fold(*o, a, out);
  // A finding not reported yet (a detector incident's first alert; its
  // updates only grow what was reported) goes out once the incident is
  // quiet, or with the lead's next alert.
  if (!o->held && a.update == 0) {
    o->pending = true;
    if (o->fold_updates < cfg_.max_fold_updates)
      settle_.add(t.index_of(o), o->inc, clock + cfg_.lookahead_ns);
  }
}

void IncidentFusion::advance(uint64_t clock, std::vector<Alert>& out) noexcept {
  if (!table_) return;
  Table& t = *table_;
  settle_.sweep(
      clock, [&](uint32_t i) -> Incident& { return t.at(i)->inc; },
      [&](uint32_t i) -> uint64_t {
        Open& o = *t.at(i);
        if (o.held) {
          send(o, out, false);
        } else if (o.pending && o.fold_updates < cfg_.max_fold_updates) {
          ++o.fold_updates;
          ++counters_.fold_updates;
          send(o, out, true);
        }
        return 0;
      });
  while (Open* o = t.oldest()) {
    if (clock <= o->last_ts || clock - o->last_ts <= cfg_.window_ns) break;
    close(*o, out);
    t.remove(o);
  }
}

void IncidentFusion::flush(std::vector<Alert>& out) noexcept {
  if (!table_) return;
  while (Open* o = table_->oldest()) {
    close(*o, out);
    table_->remove(o);
  }
}

void IncidentNotes::fold(const Alert& a, const AlertText& t) {
  const auto [it, opened] = notes_.try_emplace(a.incident_id);
  if (opened) {
    if (opened_.size() > 2 * kMaxOpen)  // mostly closed ones: keep the open
      std::erase_if(opened_, [&](uint64_t id) { return !notes_.contains(id); });
    opened_.push_back(a.incident_id);
    while (notes_.size() > kMaxOpen) {  // erasing others leaves `it` valid
      const uint64_t oldest = opened_.front();
      opened_.pop_front();
      if (oldest != a.incident_id) notes_.erase(oldest);
    }
  }
  Notes& n = it->second;
  const uint64_t key = a.incident_key ? a.incident_key : a.order;
  const bool touched = a.bare_probe && !t.touched.empty();
  std::string text = touched ? t.touched : t.signature;  // a signature names its kind
  for (Note& x : n.list)
    if (x.detector == a.detector && x.key == key) {
      x.text = std::move(text);  // the latest finding of that detector incident
      x.touched = touched;
      return;
    }
  if (n.list.size() >= kMaxNotes) {
    ++n.beyond;
    return;
  }
  n.list.push_back({a.detector, key, touched, std::move(text)});
}

nlohmann::ordered_json incident_json(const Alert& a) {
  nlohmann::ordered_json j;
  j["id"] = incident_id_text(a.incident_id);
  if (a.disposition != AlertDisposition::kAlert) return j;
  const auto registry = detector_registry();
  auto detectors = nlohmann::ordered_json::array({registry[a.detector]->id});
  for (size_t d = 0; d < registry.size() && d < 64; ++d)
    if (a.folded_detectors >> d & 1) detectors.push_back(registry[d]->id);
  j["detectors"] = std::move(detectors);
  j["folded_alerts"] = a.folded_alerts;
  return j;
}

void IncidentNotes::annotate(const Alert& a, AlertText& t) const {
  const auto it = notes_.find(a.incident_id);
  if (it == notes_.end()) return;
  auto also = nlohmann::ordered_json::array(), touched = nlohmann::ordered_json::array();
  for (const Note& n : it->second.list)
    (n.touched ? touched : also).push_back(n.text);
  if (!also.empty()) t.evidence["also"] = std::move(also);
  if (!touched.empty()) t.evidence["touched"] = std::move(touched);
  if (it->second.beyond) t.evidence["also_more"] = it->second.beyond;
}

}  // namespace harrier
