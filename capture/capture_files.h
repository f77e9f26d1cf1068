// The files of one recording on disk: a single file, or a rotating set named
// by time and sequence (STEM-YYYYmmddTHHMMSSZ-NNNNNN.pcapng beside PATH) and
// kept within a retention budget, oldest deleted first. Files a previous run
// left under the same stem count against the budget, so a restarted sensor
// still keeps to it. Plain filesystem logic, no DPDK: the pcapng writer
// drives it from its thread.
#pragma once

#include <cstdint>
#include <deque>
#include <string>

namespace harrier {

struct RotationPolicy {
  uint64_t file_bytes = 0;    // start a new file before one would pass this size (0: no limit)
  uint64_t file_seconds = 0;  // ... or once a packet is this much later than the file's first
  uint32_t keep_files = 0;    // files on disk at most, the open one included (0: no limit)
  uint64_t keep_bytes = 0;    // bytes on disk at most, the open one included (0: no limit)
  bool rotating() const { return file_bytes || file_seconds; }
  bool operator==(const RotationPolicy&) const = default;
};

class CaptureFileSet {
 public:
  // `path` names the file (no rotation) or the set's directory and stem
  // ("/var/capture/edge.pcapng" -> /var/capture/edge-...pcapng). Checks the
  // directory is writable and, rotating, lists the earlier files of the set.
  bool init(const std::string& path, const RotationPolicy& policy, std::string* error);

  const RotationPolicy& policy() const { return policy_; }
  // The name of the next file, for a first packet at `first_ts_ns`; the
  // sequence moves on once it is opened().
  std::string next_name(uint64_t first_ts_ns);
  // The writer opened `name`; its size is now `bytes` (grows with written()).
  void opened(const std::string& name, uint64_t bytes);
  void written(uint64_t bytes) { current_bytes_ += bytes; }
  void closed();  // the open file is complete: it becomes the newest kept file

  // Deletes the oldest complete files until the set, with `incoming` more
  // bytes about to be written, is within its budget.
  void enforce(uint64_t incoming = 0);
  // Makes room when the disk is full: deletes the oldest complete file.
  bool delete_oldest();

  bool is_open() const { return !current_.empty(); }
  const std::string& current_name() const { return current_; }
  uint64_t current_bytes() const { return current_bytes_; }
  uint64_t kept_files() const { return kept_.size() + (is_open() ? 1 : 0); }
  uint64_t kept_bytes() const { return kept_total_ + current_bytes_; }
  uint64_t files_created() const { return created_; }
  uint64_t files_deleted() const { return deleted_; }
  uint64_t earlier_files() const { return earlier_; }  // found at start from a previous run
  // Names in the rotating set's format, for tests and tools.
  static std::string rotated_name(const std::string& stem, uint64_t ts_ns, uint64_t seq);

 private:
  struct Kept {
    std::string name;
    uint64_t bytes;
  };
  RotationPolicy policy_;
  std::string path_, dir_, stem_;
  std::deque<Kept> kept_;  // complete files, oldest first
  uint64_t kept_total_ = 0;
  std::string current_;
  uint64_t current_bytes_ = 0;
  uint64_t next_seq_ = 1;
  uint64_t created_ = 0, deleted_ = 0, earlier_ = 0;
};

}  // namespace harrier
