#include "node-agent/posix/memory_release.h"

#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstring>

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21  // Linux 5.4; older kernels refuse it with EINVAL, which is harmless
#endif

namespace keyfleet::agent {

void ReleaseStartupMemory() {
  malloc_trim(0);
  char exe[PATH_MAX] = {};
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n <= 0) return;
  FILE* maps = std::fopen("/proc/self/maps", "re");
  if (maps == nullptr) return;
  char line[PATH_MAX + 128];
  while (std::fgets(line, sizeof(line), maps) != nullptr) {
    unsigned long start = 0, end = 0;
    char perms[8] = {};
    int path_at = 0;
    if (std::sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", &start, &end, perms, &path_at) < 3 ||
        path_at == 0) {
      continue;
    }
    // Only the executable's own read-only mappings (code, constants): they are clean file pages
    // the kernel can always read back. Writable data is never touched.
    char* path = line + path_at;
    path[std::strcspn(path, "\n")] = '\0';
    if (perms[1] == 'w' || std::strcmp(path, exe) != 0) continue;
    madvise(reinterpret_cast<void*>(start), end - start, MADV_PAGEOUT);
  }
  std::fclose(maps);
}

}  // namespace keyfleet::agent
