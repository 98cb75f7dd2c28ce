// The BPE step: one pre-tokenized word (raw bytes) to ids, applying merges
// lowest rank first as the `tokenizers` library does, with a bounded cache of
// finished words.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "io/tokenizer_files.h"

namespace selattn {

// Open-addressing map from a token pair to its merge; merging looks pairs up
// far more often than anything else, so it avoids std::unordered_map's nodes.
class MergeTable {
 public:
  struct Entry {
    uint64_t key = kEmpty;
    int32_t rank = 0;
    int32_t merged = -1;
  };
  static constexpr uint64_t kEmpty = ~uint64_t{0};

  explicit MergeTable(const std::vector<TokenizerMerge>& merges);
  // nullptr when (left, right) does not merge.
  const Entry* find(int32_t left, int32_t right) const {
    const uint64_t key = pack(left, right);
    for (std::size_t i = slot(key);; i = (i + 1) & mask_) {
      const Entry& e = slots_[i];
      if (e.key == key) return &e;
      if (e.key == kEmpty) return nullptr;
    }
  }

 private:
  static uint64_t pack(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }
  std::size_t slot(uint64_t key) const { return static_cast<std::size_t>((key * 0x9E3779B97F4A7C15ULL) >> 32) & mask_; }

  std::vector<Entry> slots_;
  std::size_t mask_ = 0;
};

class BpeModel {
 public:
  BpeModel(const TokenizerFiles& files, std::size_t cache_capacity);

  // Appends the ids of one word (raw bytes, not the byte-level spelling).
  // Safe to call from many threads at once.
  void encode_word(std::string_view word, std::vector<int32_t>& out) const;

  // The merges alone, no cache; what encode_word computes on a miss.
  void merge_word(std::string_view word, std::vector<int32_t>& out) const;

  std::size_t cache_size() const;

 private:
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Cache = std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>>;

  // Words longer than this are rare and would crowd the cache out.
  static constexpr std::size_t kMaxCachedWord = 256;

  MergeTable merges_;
  std::array<int32_t, 256> byte_ids_{};  // the id of each single byte, -1 when absent
  int32_t unk_id_ = -1;
  // ignore_merges: words that are whole vocabulary entries, by their bytes.
  std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> whole_words_;
  bool ignore_merges_ = false;

  std::size_t cache_capacity_;
  mutable std::shared_mutex cache_mutex_;
  mutable Cache cache_;
};

}  // namespace selattn
