// The CPU backend: the readable reference for every op. Loops are plain; the
// only parallelism is over independent rows, output channels or heads.
#include <algorithm>
#include <cmath>
#include <limits>

#include "backend/backend.h"
#include "backend/cpu/matmul_tiled.h"
#include "core/vec_math.h"
#include "core/thread_pool.h"

namespace selattn {
namespace {

// The plain dot product (eight interleaved partial sums, so the compiler can
// keep them in vector registers without reassociating one sum).
inline float dot(const float* a, const float* b, int n) { return cpu_dot(a, b, n); }

// Below this many multiply-adds (slots x C) a step runs on the calling thread.
constexpr int64_t kInlineStepWork = 1 << 15;

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int n_threads) : pool_(n_threads) {}

  const char* name() const override { return "cpu"; }
  int n_threads() const override { return pool_.n_threads(); }

  void embedding_forward(float* out, const int32_t* tokens, const int32_t* positions, int T, const float* wte,
                         const float* wpe, int C) override {
    for (int t = 0; t < T; ++t) {
      const float* te = wte + static_cast<int64_t>(tokens[t]) * C;
      const float* pe = wpe + static_cast<int64_t>(positions[t]) * C;
      float* o = out + static_cast<int64_t>(t) * C;
      for (int c = 0; c < C; ++c) o[c] = te[c] + pe[c];
    }
  }

  void layernorm_forward(float* out, const float* in, const float* weight, const float* bias, int T, int C,
                         float eps) override {
    pool_.parallel_for(T, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) {
        const float* x = in + t * C;
        float* o = out + t * C;
        // Two passes in double: the mean first, then the centred variance, as
        // torch does, so large offsets do not cancel.
        double mean = 0.0;
        for (int c = 0; c < C; ++c) mean += x[c];
        mean /= C;
        double var = 0.0;
        for (int c = 0; c < C; ++c) {
          const double d = x[c] - mean;
          var += d * d;
        }
        var /= C;
        const float rstd = static_cast<float>(1.0 / std::sqrt(var + eps));
        const float m = static_cast<float>(mean);
        for (int c = 0; c < C; ++c) o[c] = (x[c] - m) * rstd * weight[c] + bias[c];
      }
    });
  }

  void matmul_forward(float* out, const float* in, const float* weight, const float* bias, int T, int C,
                      int OC) override {
    // Parallel over output channels, in blocks of the tile width so each
    // thread's slice of the weight is streamed once for all T inputs. With
    // one token (decode) the plain loop is as fast: it is memory-bound.
    if (T < 4) {
      pool_.parallel_for(OC, [&](int64_t begin, int64_t end) {
        for (int64_t o = begin; o < end; ++o) {
          const float* w = weight + o * C;
          const float b = bias != nullptr ? bias[o] : 0.0f;
          for (int t = 0; t < T; ++t)
            out[static_cast<int64_t>(t) * OC + o] = dot(in + static_cast<int64_t>(t) * C, w, C) + b;
        }
      });
      return;
    }
    const int64_t blocks = (OC + 3) / 4;
    pool_.parallel_for(blocks, [&](int64_t begin, int64_t end) {
      cpu_matmul_tiled(out, in, weight, bias, T, C, OC, begin * 4, std::min<int64_t>(end * 4, OC));
    });
  }

  void activation_forward(float* out, const float* in, int64_t n, Activation act) override {
    // Ranges of whole 8-lane blocks, so the vectorised GELU never splits one.
    pool_.parallel_for((n + 7) / 8, [&](int64_t block_begin, int64_t block_end) {
      const int64_t begin = block_begin * 8, end = std::min(block_end * 8, n);
      switch (act) {
        case Activation::kGeluTanh:  // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), core/vec_math.h
          gelu_tanh(out + begin, in + begin, end - begin);
          break;
        case Activation::kGeluErf:
          for (int64_t i = begin; i < end; ++i) out[i] = 0.5f * in[i] * (1.0f + std::erf(in[i] * 0.7071067811865476f));
          break;
        case Activation::kRelu:
          for (int64_t i = begin; i < end; ++i) out[i] = in[i] > 0.0f ? in[i] : 0.0f;
          break;
      }
    });
  }

  void residual_forward(float* out, const float* a, const float* b, int64_t n) override {
    for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
  }

  void attention_forward(float* out, const float* q, int q_stride, const int32_t* q_pos, int T, const KvLayerView& kv,
                         int NH, int HS, float scale) override {
    const int64_t C = static_cast<int64_t>(NH) * HS;
    // One task per (token, head). Softmax is computed online (running max and
    // sum, rescaling the accumulator when the max grows), so no scratch row
    // of scores is needed however many slots there are.
    pool_.parallel_for(static_cast<int64_t>(T) * NH, [&](int64_t begin, int64_t end) {
      for (int64_t task = begin; task < end; ++task) {
        const int t = static_cast<int>(task / NH);
        const int h = static_cast<int>(task % NH);
        const float* qh = q + static_cast<int64_t>(t) * q_stride + static_cast<int64_t>(h) * HS;
        float* oh = out + t * C + static_cast<int64_t>(h) * HS;
        std::fill(oh, oh + HS, 0.0f);
        float running_max = -std::numeric_limits<float>::infinity();
        float running_sum = 0.0f;
        for (std::size_t page = 0; page < kv.pages.size(); ++page) {
          const KvPage& pg = kv.pages[page];
          if (pg.k == nullptr) continue;
          for (int s = 0; s < kv.page_size; ++s) {
            const int32_t p = kv.pos[page * kv.page_size + s];
            if (p < 0 || p > q_pos[t]) continue;
            const float* kh = pg.k + static_cast<int64_t>(s) * C + static_cast<int64_t>(h) * HS;
            const float* vh = pg.v + static_cast<int64_t>(s) * C + static_cast<int64_t>(h) * HS;
            const float score = dot(qh, kh, HS) * scale;
            if (score > running_max) {
              const float rescale = std::exp(running_max - score);  // exp(-inf) = 0 on the first slot
              running_sum *= rescale;
              for (int i = 0; i < HS; ++i) oh[i] *= rescale;
              running_max = score;
            }
            const float w = std::exp(score - running_max);
            running_sum += w;
            for (int i = 0; i < HS; ++i) oh[i] += w * vh[i];
          }
        }
        // A query always sees itself, so running_sum >= 1 here.
        const float inv = 1.0f / running_sum;
        for (int i = 0; i < HS; ++i) oh[i] *= inv;
      }
    });
  }

  void attention_step_forward(float* out, const float* q, int32_t q_pos, const KvLayerView& kv, int NH, int HS,
                              float scale, int sel_head, float* sel_logits, float* attention, float* scratch) override {
    const int64_t C = static_cast<int64_t>(NH) * HS;
    const int n = kv.n_slots();
    auto head = [&](int64_t begin, int64_t end) {
      for (int64_t h = begin; h < end; ++h) {
        const float* qh = q + h * HS;
        float* row = scratch + h * n;  // logits, then probabilities
        float max_logit = -std::numeric_limits<float>::infinity();
        for (std::size_t page = 0; page < kv.pages.size(); ++page) {
          const KvPage& pg = kv.pages[page];
          float* page_row = row + page * kv.page_size;
          if (pg.k != nullptr) cpu_dot_rows(page_row, qh, pg.k + h * HS, C, kv.page_size, HS);
          for (int s = 0; s < kv.page_size; ++s) {
            const int slot = static_cast<int>(page) * kv.page_size + s;
            const int32_t p = kv.pos[slot];
            if (pg.k == nullptr || p < 0 || p > q_pos) {
              row[slot] = -std::numeric_limits<float>::infinity();
              if (h == sel_head && sel_logits != nullptr) sel_logits[slot] = 0.0f;
              continue;
            }
            const float a = page_row[s] * scale;
            if (h == sel_head && sel_logits != nullptr) sel_logits[slot] = a;
            row[slot] = kv.f != nullptr ? a - kv.f[slot] : a;
            max_logit = std::max(max_logit, row[slot]);
          }
        }
        exp_shifted(row, n, max_logit);  // exp(-inf) = 0 for hidden slots
        float sum = 0.0f;
        for (int slot = 0; slot < n; ++slot) sum += row[slot];
        const float inv = 1.0f / sum;
        float* oh = out + h * HS;
        std::fill(oh, oh + HS, 0.0f);
        for (std::size_t page = 0; page < kv.pages.size(); ++page) {
          const KvPage& pg = kv.pages[page];
          if (pg.v == nullptr) continue;
          float* page_row = row + page * kv.page_size;
          for (int s = 0; s < kv.page_size; ++s) page_row[s] *= inv;
          cpu_weighted_rows(oh, page_row, pg.v + h * HS, C, kv.page_size, HS);
        }
      }
    };
    // Thread hand-off costs more than a short row of slots: run small steps inline.
    if (static_cast<int64_t>(n) * C < kInlineStepWork) {
      head(0, NH);
    } else {
      pool_.parallel_for(NH, head);
    }
    if (attention != nullptr) {
      for (int slot = 0; slot < n; ++slot) {
        float total = 0.0f;
        for (int h = 0; h < NH; ++h) total += scratch[static_cast<int64_t>(h) * n + slot];
        attention[slot] = total;
      }
    }
  }

 private:
  ThreadPool pool_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int n_threads) { return std::make_unique<CpuBackend>(n_threads); }

}  // namespace selattn
