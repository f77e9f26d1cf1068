#include "capture/pcapng_file.h"

#include <fcntl.h>
#include <sys/stat.h>
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

}  // namespace harrier
