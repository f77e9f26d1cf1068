// LD_PRELOAD shim counting heap allocations, for the zero-allocation test.
// Prints the total at exit to the file named by HARRIER_ALLOC_OUT.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

static atomic_ulong allocs;
static void* (*real_malloc)(size_t);
static void* (*real_calloc)(size_t, size_t);
static void* (*real_realloc)(void*, size_t);
static int (*real_posix_memalign)(void**, size_t, size_t);
static void* (*real_aligned_alloc)(size_t, size_t);

// dlsym itself may calloc: serve it from a static arena.
static char boot[4096];
static size_t boot_used;
static void* boot_alloc(size_t n) {
  n = (n + 15) & ~(size_t)15;
  if (boot_used + n > sizeof boot) return NULL;
  void* p = boot + boot_used;
  boot_used += n;
  return p;
}
static int resolving;
static void resolve(void) {
  if (real_malloc || resolving) return;
  resolving = 1;
  real_malloc = dlsym(RTLD_NEXT, "malloc");
  real_calloc = dlsym(RTLD_NEXT, "calloc");
  real_realloc = dlsym(RTLD_NEXT, "realloc");
  real_posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
  real_aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
  resolving = 0;
}

void* malloc(size_t n) {
  resolve();
  if (!real_malloc) return boot_alloc(n);
  atomic_fetch_add(&allocs, 1);
  return real_malloc(n);
}
void* calloc(size_t a, size_t b) {
  resolve();
  if (!real_calloc) return boot_alloc(a * b);
  atomic_fetch_add(&allocs, 1);
  return real_calloc(a, b);
}
void* realloc(void* p, size_t n) {
  resolve();
  atomic_fetch_add(&allocs, 1);
  return real_realloc(p, n);
}
int posix_memalign(void** p, size_t a, size_t n) {
  resolve();
  atomic_fetch_add(&allocs, 1);
  return real_posix_memalign(p, a, n);
}
void* aligned_alloc(size_t a, size_t n) {
  resolve();
  atomic_fetch_add(&allocs, 1);
  return real_aligned_alloc(a, n);
}
void free(void* p) {
  static void (*real_free)(void*);
  if ((char*)p >= boot && (char*)p < boot + sizeof boot) return;
  if (!real_free) real_free = dlsym(RTLD_NEXT, "free");
  real_free(p);
}

__attribute__((destructor)) static void report(void) {
  const char* out = getenv("HARRIER_ALLOC_OUT");
  if (!out) return;
  FILE* f = fopen(out, "w");
  if (!f) return;
  fprintf(f, "%lu\n", (unsigned long)atomic_load(&allocs));
  fclose(f);
}
