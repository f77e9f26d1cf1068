#include "capture/pcapng_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>

#include <rte_errno.h>
#include <rte_pcapng.h>

namespace harrier {

rte_pcapng* create_pcapng(const std::string& path, int* fd) {
  *fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (*fd < 0) return nullptr;
  errno = 0;
  rte_errno = 0;
  rte_pcapng* p = rte_pcapng_fdopen(*fd, nullptr, nullptr, "harrier " HARRIER_VERSION, nullptr);
  if (p) return p;
  const int saved = errno ? errno : rte_errno ? rte_errno : EIO;
  struct stat st {};
  // A header cut short is not a pcapng file; but a device or FIFO the user
  // named is theirs, not ours to remove.
  if (::fstat(*fd, &st) == 0 && S_ISREG(st.st_mode)) ::unlink(path.c_str());
  ::close(*fd);
  *fd = -1;
  errno = saved;
  return nullptr;
}

int append_blocks(rte_pcapng* p, int fd, rte_mbuf** pkts, uint16_t n, uint64_t bytes, uint64_t good,
                  bool* cut_failed) {
  *cut_failed = false;
  rte_errno = 0;
  const ssize_t wrote = rte_pcapng_write_packets(p, pkts, n);
  if (wrote == ssize_t(bytes)) return 0;
  int why = wrote < 0 && rte_errno ? rte_errno : EIO;
  if (wrote >= 0) {  // short: say whether the file system is what filled up
    struct statvfs fs {};
    if (::fstatvfs(fd, &fs) == 0 && uint64_t(fs.f_bavail) * fs.f_frsize < bytes) why = ENOSPC;
  }
  if (::ftruncate(fd, off_t(good)) != 0 || ::lseek(fd, off_t(good), SEEK_SET) != off_t(good))
    *cut_failed = true;
  return why;
}

}  // namespace harrier
