#include "ts/common/memory.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "test/common/sanitized_allocator.h"

namespace ts {
namespace {

using ::ts::testing::kSanitizedAllocator;

TEST(MemoryTest, ResidentBytesIsTheProcesssResidentSize) {
  const int64_t before = ResidentBytes();
  EXPECT_GT(before, 0);
  // 32 MB touched page by page is resident, whoever allocated it.
  constexpr size_t kSize = 32 << 20;
  char* block = static_cast<char*>(std::malloc(kSize));
  ASSERT_NE(block, nullptr);
  std::memset(block, 1, kSize);
  EXPECT_GE(ResidentBytes(), before + static_cast<int64_t>(kSize) / 2);
  std::free(block);
}

// A burst's garbage, as the server leaves it: many small blocks freed, a few between them still
// live, so the free memory is in the middle of the heap where free() cannot give it back.
TEST(MemoryTest, ReturnFreeMemoryGivesBackFreePagesBetweenLiveBlocks) {
  if (kSanitizedAllocator) GTEST_SKIP() << "ASan's allocator replaces glibc's arenas";
  constexpr size_t kBlock = 1024;
  constexpr size_t kBlocks = 64 * 1024;  // 64 MB
  std::vector<void*> blocks(kBlocks);
  for (void*& b : blocks) {
    b = std::malloc(kBlock);
    ASSERT_NE(b, nullptr);
    std::memset(b, 1, kBlock);
  }
  // Keep one block in 64 (every 64 KB), free the rest.
  for (size_t i = 0; i < kBlocks; ++i) {
    if (i % 64 != 63) {
      std::free(blocks[i]);
      blocks[i] = nullptr;
    }
  }
  const MemoryReturned returned = ReturnFreeMemory();
  EXPECT_GE(returned.micros, 0);
  // About 63 MB were free in 63 KB runs: most of each run is whole pages.
  EXPECT_LT(returned.resident_after, returned.resident_before - (32 << 20))
      << "before " << returned.resident_before << " after " << returned.resident_after;
  for (void* b : blocks) std::free(b);
}

}  // namespace
}  // namespace ts
