// Rotating capture sets: names by time and sequence, earlier files found
// and counted, and the retention budget (files and bytes) enforced oldest
// first.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "capture/capture_files.h"
#include "control/config.h"

using namespace harrier;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/harrier-files-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
};

void make_file(const std::string& name, size_t bytes) {
  std::ofstream(name, std::ios::binary) << std::string(bytes, 'x');
}

// What the writer does for one file of `bytes`.
void write_one(CaptureFileSet& set, uint64_t ts, size_t bytes) {
  const std::string name = set.next_name(ts);
  make_file(name, bytes);
  set.opened(name, 0);
  set.enforce(bytes);
  set.written(bytes);
  set.closed();
}

}  // namespace

TEST(CaptureFiles, RotatedNamesSortByTimeThenSequence) {
  EXPECT_EQ(CaptureFileSet::rotated_name("/d/edge", 964109260894521000ull, 7),
            "/d/edge-20000720T160740Z-000007.pcapng");
  EXPECT_EQ(CaptureFileSet::rotated_name("x", 0, 1234567), "x-19700101T000000Z-1234567.pcapng");
}

TEST(CaptureFiles, SingleFileNeedsNoDirectoryScanAndRefusesRetentionWithoutRotation) {
  CaptureFileSet set;
  std::string err;
  ASSERT_TRUE(set.init("/tmp/one.pcapng", {}, &err)) << err;
  EXPECT_EQ(set.next_name(123), "/tmp/one.pcapng");
  RotationPolicy keep_only;
  keep_only.keep_files = 3;
  CaptureFileSet bad;
  EXPECT_FALSE(bad.init("/tmp/one.pcapng", keep_only, &err));
  EXPECT_NE(err.find("needs rotation"), std::string::npos) << err;
}

TEST(CaptureFiles, MissingDirectoryAndTooSmallBudgetAreNamed) {
  RotationPolicy p;
  p.file_bytes = 1 << 20;
  std::string err;
  CaptureFileSet set;
  EXPECT_FALSE(set.init("/nonexistent-harrier/cap.pcapng", p, &err));
  EXPECT_NE(err.find("/nonexistent-harrier"), std::string::npos) << err;
  p.keep_bytes = 1 << 19;
  CaptureFileSet small;
  EXPECT_FALSE(small.init("/tmp/cap.pcapng", p, &err));
  EXPECT_NE(err.find("smaller than one file"), std::string::npos) << err;
}

TEST(CaptureFiles, KeepsFileCountDeletingOldestFirst) {
  TempDir d;
  RotationPolicy p;
  p.file_seconds = 60;
  p.keep_files = 3;
  CaptureFileSet set;
  std::string err;
  ASSERT_TRUE(set.init((d.path / "cap.pcapng").string(), p, &err)) << err;
  for (int i = 0; i < 7; ++i)
    write_one(set, uint64_t(i) * 60'000'000'000ull, 100);
  EXPECT_EQ(set.kept_files(), 3u);
  EXPECT_EQ(set.files_created(), 7u);
  EXPECT_EQ(set.files_deleted(), 4u);
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(d.path))
    left.push_back(e.path().filename().string());
  std::sort(left.begin(), left.end());
  ASSERT_EQ(left.size(), 3u);
  EXPECT_EQ(left[0], "cap-19700101T000400Z-000005.pcapng");
  EXPECT_EQ(left[2], "cap-19700101T000600Z-000007.pcapng");
}

TEST(CaptureFiles, ByteBudgetCountsEarlierRunsAndTheIncomingWrite) {
  TempDir d;
  const std::string stem = (d.path / "edge").string();
  // A previous run's files (out of name order: sequence decides age), and
  // files that are not the set's.
  make_file(CaptureFileSet::rotated_name(stem, 2'000'000'000'000'000'000ull, 2), 4000);
  make_file(CaptureFileSet::rotated_name(stem, 1'000'000'000'000'000'000ull, 3), 4000);
  make_file(stem + "-notatime-000004.pcapng", 4000);
  make_file((d.path / "other-20000101T000000Z-000001.pcapng").string(), 4000);
  RotationPolicy p;
  p.file_bytes = 5000;
  p.keep_bytes = 10000;
  CaptureFileSet set;
  std::string err;
  ASSERT_TRUE(set.init(stem + ".pcapng", p, &err)) << err;
  EXPECT_EQ(set.earlier_files(), 2u);
  EXPECT_EQ(set.kept_bytes(), 8000u);
  // The next file continues the sequence; writing 3000 more bytes needs
  // the oldest (sequence 2) gone.
  const std::string next = set.next_name(0);
  EXPECT_NE(next.find("-000004.pcapng"), std::string::npos) << next;
  make_file(next, 3000);
  set.opened(next, 0);
  set.enforce(3000);
  set.written(3000);
  EXPECT_LE(set.kept_bytes(), 10000u);
  EXPECT_FALSE(fs::exists(CaptureFileSet::rotated_name(stem, 2'000'000'000'000'000'000ull, 2)));
  EXPECT_TRUE(fs::exists(CaptureFileSet::rotated_name(stem, 1'000'000'000'000'000'000ull, 3)));
  EXPECT_TRUE(fs::exists(stem + "-notatime-000004.pcapng"));
  EXPECT_TRUE(fs::exists(d.path / "other-20000101T000000Z-000001.pcapng"));
  // The open file is never deleted, even when nothing else is left.
  EXPECT_TRUE(set.delete_oldest());
  EXPECT_FALSE(set.delete_oldest());
  EXPECT_TRUE(fs::exists(next));
}

TEST(CaptureFiles, SizesWithSuffixes) {
  uint64_t v = 0;
  EXPECT_TRUE(parse_size("4096", &v));
  EXPECT_EQ(v, 4096u);
  EXPECT_TRUE(parse_size("100M", &v));
  EXPECT_EQ(v, 100ull << 20);
  EXPECT_TRUE(parse_size("2GiB", &v));
  EXPECT_EQ(v, 2ull << 30);
  EXPECT_TRUE(parse_size("1tb", &v));
  EXPECT_EQ(v, 1ull << 40);
  for (const char* bad :
       {"", "M", "10X", "1.5G", "-1", "10 M", "99999999999999999999", "20000000T"})
    EXPECT_FALSE(parse_size(bad, &v)) << bad;
}
