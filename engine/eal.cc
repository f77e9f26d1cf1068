#include "engine/eal.h"

#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <string>

#include <atomic>
#include <chrono>
#include <thread>

#include <rte_alarm.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_interrupts.h>

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

namespace {
struct IntrCall {
  const std::function<void()>* fn;
  std::atomic<bool> done{false};
};
void run_intr_call(void* arg) {
  auto* c = static_cast<IntrCall*>(arg);
  (*c->fn)();
  c->done.store(true, std::memory_order_release);
}
}  // namespace

void on_intr_thread(const std::function<void()>& fn) {
  if (rte_thread_is_intr()) {
    fn();
    return;
  }
  IntrCall call{&fn};
  // EAL runs alarm callbacks on its interrupt thread, one at a time with the
  // PMDs' interrupt handlers: `fn` cannot overlap any of them.
  if (rte_eal_alarm_set(1, run_intr_call, &call) != 0) {
    fn();
    return;
  }
  while (!call.done.load(std::memory_order_acquire))
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

void intr_quiesce() {
  // The first round trip may be handled in the same epoll round as a pending
  // source rebuild, ahead of it; the second is armed only after the first
  // ran, so it comes after the rebuild.
  on_intr_thread([] {});
  on_intr_thread([] {});
}

namespace {
// The interrupt thread, parked for good in one of its own callbacks.
void park_forever(void* parked) {
  static_cast<std::atomic<bool>*>(parked)->store(true, std::memory_order_release);
  for (;;)
    pause();  // a signal handled on this thread returns here; the process's exit ends it
}

// rte_eal_cleanup does not stop EAL's interrupt thread, and it removes
// devices (which unregisters their interrupt sources: the thread wakes and
// re-reads every source's handle) and then unmaps DPDK's memory: that
// thread crashed in rte_intr_fd_get about one memif session in ten. Parked
// in a callback first, it touches nothing while cleanup runs. The callback
// is on an eventfd source of our own: cleanup unregisters the alarm source
// synchronously, which would wait forever for a callback parked there.
void park_intr_thread() {
  static std::atomic<bool> parked{false};
  // Parked already (a second stop): a new callback would never run.
  if (parked.load(std::memory_order_acquire) || rte_thread_is_intr()) return;
  rte_intr_handle* h = rte_intr_instance_alloc(RTE_INTR_INSTANCE_F_PRIVATE);
  const int fd = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK);  // readable from the start
  if (!h || fd < 0 || rte_intr_type_set(h, RTE_INTR_HANDLE_EXT) != 0 ||
      rte_intr_fd_set(h, fd) != 0 || rte_intr_callback_register(h, park_forever, &parked) != 0)
    return;  // not parked: cleanup runs as DPDK has it
  while (!parked.load(std::memory_order_acquire))
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}
}  // namespace

void eal_stop() {
  // EAL leaves its runtime directory (/var/run/dpdk/PREFIX) behind, and
  // every offline read has a prefix of its own: remove it, unless this is a
  // secondary process using its primary's.
  const bool primary = rte_eal_process_type() == RTE_PROC_PRIMARY;
  const std::string dir = rte_eal_get_runtime_dir();
  park_intr_thread();
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
