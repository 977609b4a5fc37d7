// File: memory.cc
#include "ts/common/memory.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace ts {

int64_t ResidentBytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  long size = 0;
  long resident = 0;
  const int n = std::fscanf(f, "%ld %ld", &size, &resident);
  std::fclose(f);
  return n == 2 ? static_cast<int64_t>(resident) * sysconf(_SC_PAGESIZE) : 0;
}

MemoryReturned ReturnFreeMemory() {
  MemoryReturned out;
  out.resident_before = ResidentBytes();
  const auto start = std::chrono::steady_clock::now();
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
  out.micros = std::chrono::duration_cast<std::chrono::microseconds>(
                   std::chrono::steady_clock::now() - start)
                   .count();
  out.resident_after = ResidentBytes();
  return out;
}

}  // namespace ts
