#include "detectors/host_event_wire.h"

#include <cstring>

namespace harrier {

namespace {

template <typename T>
void put_le(std::string& out, T v) {
  for (size_t i = 0; i < sizeof(T); ++i)
    out.push_back(char(uint8_t(uint64_t(v) >> (8 * i))));
}

void put_addr(std::string& out, const IpAddr& a) {
  out.push_back(char(a.family));
  if (a.family == 4) out.append(reinterpret_cast<const char*>(a.bytes), 4);
  if (a.family == 6) out.append(reinterpret_cast<const char*>(a.bytes), 16);
}

bool all_zero(const unsigned char* p, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (p[i]) return false;
  return true;
}

// Reads fields off a blob; the first failure sticks, with its offset.
class Reader {
 public:
  explicit Reader(std::string_view b) : b_(b) {}
  template <typename T>
  T le(const char* what) {
    T v = 0;
    if (!need(sizeof(T), what)) return v;
    for (size_t i = 0; i < sizeof(T); ++i)
      v = T(v | T(uint64_t(uint8_t(b_[at_ + i])) << (8 * i)));
    at_ += sizeof(T);
    return v;
  }
  void bytes(void* to, size_t n, const char* what) {
    if (!need(n, what)) return;
    std::memcpy(to, b_.data() + at_, n);
    at_ += n;
  }
  IpAddr addr(const char* what) {
    IpAddr a;
    a.family = le<uint8_t>(what);
    if (a.family == 4)
      bytes(a.bytes, 4, what);
    else if (a.family == 6)
      bytes(a.bytes, 16, what);
    else if (a.family != 0)
      fail(std::string(what) + ": address family " + std::to_string(a.family) +
           " (want 0, 4 or 6)");
    return a;
  }
  void fail(const std::string& why) {
    if (error_.empty()) error_ = "byte " + std::to_string(record_at_) + ": " + why;
    at_ = b_.size();
  }
  bool ok() const { return error_.empty(); }
  bool done() const { return at_ >= b_.size(); }
  void start_record() { record_at_ = at_; }
  const std::string& error() const { return error_; }

 private:
  bool need(size_t n, const char* what) {
    if (!ok()) return false;
    if (b_.size() - at_ < n) {
      fail(std::string("truncated in ") + what);
      return false;
    }
    return true;
  }
  std::string_view b_;
  size_t at_ = 0;
  size_t record_at_ = 0;
  std::string error_;
};

}  // namespace

void append_wire_event(std::string& out, const HostEvent& e) {
  if (out.empty()) out.push_back(char(kEventWireVersion));
  put_le(out, e.ts);
  put_le(out, e.order);
  put_addr(out, e.src);
  put_addr(out, e.dst);
  put_le(out, e.sport);
  put_le(out, e.dport);
  put_le(out, e.tcp_flags);
  put_le(out, e.ip_id);
  put_le(out, e.detector);
  put_le(out, e.key_slot);
  put_le(out, e.proto);
  put_le(out, uint8_t(e.kind));
  put_le(out, e.flags);
  put_le(out, e.code);
  put_le(out, e.ttl);
  const bool detail = !all_zero(e.detail.bytes, e.detail.kBytes);
  out.push_back(char(detail ? e.detail.kBytes : 0));
  if (detail) out.append(reinterpret_cast<const char*>(e.detail.bytes), e.detail.kBytes);
}

bool decode_wire_events(std::string_view blob, uint16_t n_detectors, std::vector<HostEvent>& out,
                        std::string* error) {
  if (blob.empty()) {
    *error = "empty event blob";
    return false;
  }
  if (uint8_t(blob[0]) != kEventWireVersion) {
    *error = "event format version " + std::to_string(uint8_t(blob[0])) + ", this build reads " +
             std::to_string(kEventWireVersion) + " (sensor and correlator releases differ)";
    return false;
  }
  const size_t before = out.size();
  Reader r(blob);
  r.le<uint8_t>("version");  // checked above
  uint32_t seq = 0;
  while (r.ok() && !r.done()) {
    r.start_record();
    HostEvent e;
    e.ts = r.le<uint64_t>("ts");
    e.order = r.le<uint64_t>("order");
    e.src = r.addr("src");
    e.dst = r.addr("dst");
    e.sport = r.le<uint16_t>("sport");
    e.dport = r.le<uint16_t>("dport");
    e.tcp_flags = r.le<uint16_t>("tcp_flags");
    e.ip_id = r.le<uint16_t>("ip_id");
    e.detector = r.le<uint16_t>("detector");
    e.key_slot = r.le<uint16_t>("key_slot");
    e.proto = r.le<uint8_t>("proto");
    const uint8_t kind = r.le<uint8_t>("kind");
    e.flags = r.le<uint8_t>("flags");
    e.code = r.le<uint8_t>("code");
    e.ttl = r.le<uint8_t>("ttl");
    const uint8_t detail = r.le<uint8_t>("detail length");
    if (!r.ok()) break;
    if (kind > uint8_t(HostEventKind::kDetector)) {
      r.fail("event kind " + std::to_string(kind));
      break;
    }
    e.kind = HostEventKind(kind);
    if (e.kind == HostEventKind::kDetector && e.detector >= n_detectors) {
      r.fail("detector " + std::to_string(e.detector) + " (this build has " +
             std::to_string(n_detectors) + ")");
      break;
    }
    if (e.src.family == 0) {
      r.fail("event without a source address");
      break;
    }
    if (e.dst.family == 0) {  // every event a sensor raises has one; detectors list it
      r.fail("event without a target address");
      break;
    }
    if (detail != 0 && detail != e.detail.kBytes) {
      r.fail("detail of " + std::to_string(detail) + " bytes (want 0 or " +
             std::to_string(e.detail.kBytes) + ")");
      break;
    }
    if (detail) r.bytes(e.detail.bytes, detail, "detail");
    if (!r.ok()) break;
    e.seq = seq++;
    out.push_back(e);
  }
  if (!r.ok()) {
    out.resize(before);
    *error = r.error();
    return false;
  }
  return true;
}

}  // namespace harrier
