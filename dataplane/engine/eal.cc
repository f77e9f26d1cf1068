#include "dataplane/engine/eal.h"

#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <string>

#include <rte_eal.h>
#include <rte_errno.h>

namespace harrier {

bool eal_start(const std::vector<std::string>& args, std::string* error) {
  std::vector<std::string> owned;
  owned.push_back("harrier");
  owned.insert(owned.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : owned)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  // EAL pins the calling thread to the main lcore's core. The TBB arena's
  // threads inherit and size themselves from this thread's mask, so give it
  // back: shard placement is the arena's job, not EAL's.
  cpu_set_t before;
  const bool saved = sched_getaffinity(0, sizeof(before), &before) == 0;
  const int rc = rte_eal_init(int(owned.size()), argv.data());
  if (rc >= 0 && saved) pthread_setaffinity_np(pthread_self(), sizeof(before), &before);
  if (rc < 0) {
    std::string joined;
    for (const auto& a : args)
      joined += " " + a;
    *error = std::string("DPDK EAL initialisation failed: ") + rte_strerror(rte_errno) +
             " (EAL arguments:" + joined + ")";
    return false;
  }
  return true;
}

void eal_stop() {
  // EAL leaves its runtime directory (/var/run/dpdk/PREFIX) behind, and
  // every offline read has a prefix of its own: remove it, unless this is a
  // secondary process using its primary's.
  const bool primary = rte_eal_process_type() == RTE_PROC_PRIMARY;
  const std::string dir = rte_eal_get_runtime_dir();
  rte_eal_cleanup();
  if (!primary || dir.empty()) return;
  if (DIR* d = opendir(dir.c_str())) {
    while (const dirent* e = readdir(d)) {
      const std::string name = e->d_name;
      if (name != "." && name != "..") unlink((dir + "/" + name).c_str());
    }
    closedir(d);
  }
  rmdir(dir.c_str());
}

}  // namespace harrier
