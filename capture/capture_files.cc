#include "capture/capture_files.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <vector>

#include <spdlog/spdlog.h>

namespace harrier {

namespace {
constexpr std::string_view kExt = ".pcapng";
constexpr size_t kTimeLen = 16;  // 20000720T160740Z

bool ends_with(std::string_view s, std::string_view end) {
  return s.size() >= end.size() && s.substr(s.size() - end.size()) == end;
}

// STEM-<time>-<seq>.pcapng -> seq, or 0 when `name` is not one of the set's.
uint64_t parse_seq(std::string_view name, std::string_view stem) {
  if (name.size() < stem.size() + 1 + kTimeLen + 2 + kExt.size()) return 0;
  if (name.substr(0, stem.size()) != stem || name[stem.size()] != '-' || !ends_with(name, kExt))
    return 0;
  std::string_view rest = name.substr(stem.size() + 1);
  rest.remove_suffix(kExt.size());
  if (rest.size() < kTimeLen + 2 || rest[kTimeLen] != '-' || rest[8] != 'T' ||
      rest[kTimeLen - 1] != 'Z')
    return 0;
  uint64_t seq = 0;
  for (char ch : rest.substr(kTimeLen + 1)) {
    if (ch < '0' || ch > '9' || seq > UINT64_MAX / 10 - 10) return 0;
    seq = seq * 10 + uint64_t(ch - '0');
  }
  return seq;
}
}  // namespace

std::string CaptureFileSet::rotated_name(const std::string& stem, uint64_t ts_ns, uint64_t seq) {
  const time_t secs = time_t(ts_ns / 1'000'000'000ull);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  char seqs[24];
  std::snprintf(seqs, sizeof seqs, "%06llu", (unsigned long long)seq);
  return stem + "-" + buf + "-" + seqs + std::string(kExt);
}

bool CaptureFileSet::init(const std::string& path, const RotationPolicy& policy,
                          std::string* error) {
  path_ = path;
  policy_ = policy;
  if (!policy.rotating()) {
    if (policy.keep_files || policy.keep_bytes) {
      *error = path + ": a retention budget needs rotation (a file size or a time per file)";
      return false;
    }
    return true;
  }
  if (policy.keep_bytes && policy.file_bytes && policy.keep_bytes < policy.file_bytes) {
    *error = path + ": the retention budget (" + std::to_string(policy.keep_bytes) +
             " bytes) is smaller than one file (" + std::to_string(policy.file_bytes) + " bytes)";
    return false;
  }
  const size_t slash = path.rfind('/');
  dir_ = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  std::string file = slash == std::string::npos ? path : path.substr(slash + 1);
  if (ends_with(file, kExt)) file.resize(file.size() - kExt.size());
  if (file.empty()) {
    *error = path + ": name the recording's files (e.g. " + dir_ + "/capture.pcapng)";
    return false;
  }
  stem_ = file;
  struct stat st {};
  if (stat(dir_.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    *error = dir_ + ": the capture directory does not exist";
    return false;
  }
  if (access(dir_.c_str(), W_OK | X_OK) != 0) {
    *error = dir_ + ": cannot write in the capture directory: " + std::strerror(errno);
    return false;
  }
  // Earlier files of this set, in the order they were made.
  DIR* d = opendir(dir_.c_str());
  if (!d) {
    *error = dir_ + ": cannot list the capture directory: " + std::strerror(errno);
    return false;
  }
  std::vector<std::pair<uint64_t, Kept>> found;
  while (const dirent* e = readdir(d)) {
    const uint64_t seq = parse_seq(e->d_name, stem_);
    if (!seq) continue;
    const std::string full = dir_ + "/" + e->d_name;
    struct stat fs {};
    if (stat(full.c_str(), &fs) != 0 || !S_ISREG(fs.st_mode)) continue;
    found.push_back({seq, {full, uint64_t(fs.st_size)}});
  }
  closedir(d);
  std::sort(found.begin(), found.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [seq, k] : found) {
    kept_total_ += k.bytes;
    kept_.push_back(std::move(k));
    next_seq_ = seq + 1;
  }
  earlier_ = found.size();
  return true;
}

std::string CaptureFileSet::next_name(uint64_t first_ts_ns) {
  if (!policy_.rotating()) return path_;
  return rotated_name(dir_ + "/" + stem_, first_ts_ns, next_seq_);
}

void CaptureFileSet::opened(const std::string& name, uint64_t bytes) {
  current_ = name;
  current_bytes_ = bytes;
  ++created_;
  ++next_seq_;
}

void CaptureFileSet::closed() {
  if (current_.empty()) return;
  kept_.push_back({current_, current_bytes_});
  kept_total_ += current_bytes_;
  current_.clear();
  current_bytes_ = 0;
}

bool CaptureFileSet::delete_oldest() {
  if (kept_.empty()) return false;
  const Kept k = kept_.front();
  kept_.pop_front();
  kept_total_ -= k.bytes;
  // Gone already (an operator moved it away) is as good as deleted. One
  // that cannot be deleted leaves the budget's count all the same (it is
  // not ours to keep trying), and the operator is told.
  if (unlink(k.name.c_str()) == 0 || errno == ENOENT)
    ++deleted_;
  else
    spdlog::error(
        "{}: cannot delete this old capture file ({}); it stays on disk, outside the "
        "retention budget",
        k.name, std::strerror(errno));
  return true;
}

void CaptureFileSet::enforce(uint64_t incoming) {
  while (!kept_.empty() && ((policy_.keep_files && kept_files() > policy_.keep_files) ||
                            (policy_.keep_bytes && kept_bytes() + incoming > policy_.keep_bytes)))
    delete_oldest();
}

}  // namespace harrier
