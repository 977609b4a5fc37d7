// File: memory.h
// The process's resident memory, and giving the allocator's free pages back to the kernel.
// glibc's malloc keeps what a burst of requests freed inside its arenas for reuse: the freed
// chunks lie between live ones, so the heap cannot shrink from its top, and resident memory stays
// at the burst's peak until the pages are reused. ReturnFreeMemory hands those pages back
// (docs/design/memory.md has the measurements and the cost).
//
// Thread-safe: both may be called from any thread.
#pragma once

#include <cstdint>

namespace ts {

// Resident set size in bytes (/proc/self/statm); 0 when it cannot be read.
int64_t ResidentBytes();

struct MemoryReturned {
  int64_t resident_before = 0;  // bytes
  int64_t resident_after = 0;   // bytes
  int64_t micros = 0;           // how long the allocator took
};

// malloc_trim(0): every arena's whole free pages go back to the kernel (MADV_DONTNEED), not only
// the top of each heap. Each arena is locked while it is walked; a thread allocating from that
// arena meanwhile waits. Without glibc, nothing is done and before == after.
MemoryReturned ReturnFreeMemory();

}  // namespace ts
