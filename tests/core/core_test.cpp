// dtype conversion and the thread pool.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <numeric>
#include <thread>

#include "core/dtype.h"
#include "core/thread_pool.h"
#include "selattn/error.h"

namespace selattn::test {
namespace {

TEST(DType, F16ToF32MatchesTheCompilerForEveryBitPattern) {
  // _Float16 is the compiler's IEEE half: an independent reference.
  int mismatches = 0;
  for (uint32_t bits = 0; bits < 65536; ++bits) {
    const uint16_t h = static_cast<uint16_t>(bits);
    _Float16 ref;
    std::memcpy(&ref, &h, 2);
    const float want = static_cast<float>(ref);
    const float got = f16_to_f32(h);
    if (std::isnan(want) ? !std::isnan(got) : std::memcmp(&want, &got, 4) != 0) ++mismatches;
  }
  EXPECT_EQ(mismatches, 0);
}

TEST(DType, Bf16IsTheTopHalfOfF32) {
  EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
  EXPECT_EQ(bf16_to_f32(0xc000), -2.0f);
  EXPECT_TRUE(std::isinf(bf16_to_f32(0x7f80)));
}

TEST(DType, SafetensorsNames) {
  EXPECT_EQ(dtype_from_safetensors_name("BF16"), DType::kBF16);
  EXPECT_EQ(dtype_from_safetensors_name("F32"), DType::kF32);
  EXPECT_EQ(dtype_from_safetensors_name("f32"), DType::kUnknown);
  EXPECT_EQ(dtype_size(DType::kF16), 2u);
  float out;
  const int32_t x = 1;
  EXPECT_THROW(convert_to_f32(&out, &x, DType::kI32, 1), Error);
}

TEST(ThreadPool, CoversEveryIndexOnce) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    for (int64_t n : {0, 1, 2, 7, 1000}) {
      std::vector<std::atomic<int>> hits(static_cast<std::size_t>(n));
      pool.parallel_for(n, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) hits[i]++;
      });
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "threads " << threads << " n " << n;
    }
  }
}

TEST(ThreadPool, RethrowsAndStaysUsable) {
  ThreadPool pool(2);
  EXPECT_THROW(pool.parallel_for(100,
                                 [](int64_t b, int64_t) {
                                   if (b > 0) throw Error("worker failed");
                                 }),
               Error);
  std::atomic<int64_t> sum{0};
  pool.parallel_for(100, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) sum += i;
  });
  EXPECT_EQ(sum.load(), 4950);
}

// A parallel_for inside a job (one session per thread, each session's ops
// inside) runs whole on the calling thread with its index, and never waits
// on the job it is part of.
TEST(ThreadPool, NestedCallsRunOnTheCallingThread) {
  ThreadPool pool(3);
  EXPECT_EQ(pool.job_thread(), -1);
  std::vector<std::atomic<int>> hits(300);
  std::atomic<int> foreign{0};
  pool.parallel_for(3, [&](int64_t b, int64_t e, int thread) {
    EXPECT_EQ(pool.job_thread(), thread);
    const std::thread::id me = std::this_thread::get_id();
    for (int64_t outer = b; outer < e; ++outer) {
      pool.parallel_for(100, [&](int64_t ib, int64_t ie, int inner_thread) {
        if (inner_thread != thread || std::this_thread::get_id() != me || ib != 0 || ie != 100) ++foreign;
        for (int64_t i = ib; i < ie; ++i) hits[outer * 100 + i]++;
      });
    }
  });
  EXPECT_EQ(foreign.load(), 0);
  for (std::size_t i = 0; i < hits.size(); ++i) ASSERT_EQ(hits[i].load(), 1) << i;
  EXPECT_EQ(pool.job_thread(), -1);
  ThreadPool other(2);  // another pool's job is not this one's
  other.parallel_for(2, [&](int64_t, int64_t) { EXPECT_EQ(pool.job_thread(), -1); });
}

}  // namespace
}  // namespace selattn::test
