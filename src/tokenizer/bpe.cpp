#include "tokenizer/bpe.h"

#include <algorithm>
#include <bit>
#include <mutex>

#include "tokenizer/byte_level.h"

namespace selattn {

MergeTable::MergeTable(const std::vector<TokenizerMerge>& merges) {
  // At most half full, so probe runs stay short.
  const std::size_t capacity = std::bit_ceil(std::max<std::size_t>(16, merges.size() * 2));
  slots_.assign(capacity, Entry{});
  mask_ = capacity - 1;
  for (std::size_t rank = 0; rank < merges.size(); ++rank) {
    const TokenizerMerge& m = merges[rank];
    const uint64_t key = pack(m.left, m.right);
    std::size_t i = slot(key);
    while (slots_[i].key != kEmpty && slots_[i].key != key) i = (i + 1) & mask_;
    // A pair listed twice keeps its last rank, as in `tokenizers`, which
    // collects the merges into a hash map.
    slots_[i] = Entry{key, static_cast<int32_t>(rank), m.merged};
  }
}

BpeModel::BpeModel(const TokenizerFiles& files, std::size_t cache_capacity)
    : merges_(files.merges),
      unk_id_(files.unk_id),
      ignore_merges_(files.ignore_merges),
      cache_capacity_(cache_capacity) {
  byte_ids_.fill(-1);
  const auto& alphabet = byte_to_piece_utf8();
  std::unordered_map<std::string_view, int> byte_of_piece;
  for (int b = 0; b < 256; ++b) byte_of_piece.emplace(alphabet[b], b);
  std::string bytes;
  for (const auto& [piece, id] : files.vocab) {
    if (auto it = byte_of_piece.find(piece); it != byte_of_piece.end()) byte_ids_[it->second] = id;
    if (ignore_merges_ && piece_to_bytes(piece, bytes)) whole_words_.emplace(bytes, id);
  }
}

void BpeModel::encode_word(std::string_view word, std::vector<int32_t>& out) const {
  if (word.size() == 1) {
    // A single byte has nothing to merge.
    const int32_t id = byte_ids_[static_cast<unsigned char>(word[0])];
    if (id >= 0) {
      out.push_back(id);
    } else if (unk_id_ >= 0) {
      out.push_back(unk_id_);
    }
    return;
  }
  const bool cacheable = word.size() <= kMaxCachedWord && cache_capacity_ > 0;
  if (cacheable) {
    std::shared_lock lock(cache_mutex_);
    if (auto it = cache_.find(word); it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const std::size_t start = out.size();
  merge_word(word, out);
  if (cacheable) {
    std::vector<int32_t> ids(out.begin() + static_cast<std::ptrdiff_t>(start), out.end());
    std::unique_lock lock(cache_mutex_);
    // Emptying a full cache keeps it bounded and lets it follow the text.
    if (cache_.size() >= cache_capacity_) cache_.clear();
    cache_.emplace(std::string(word), std::move(ids));
  }
}

void BpeModel::merge_word(std::string_view word, std::vector<int32_t>& out) const {
  if (ignore_merges_) {
    if (auto it = whole_words_.find(word); it != whole_words_.end()) {
      out.push_back(it->second);
      return;
    }
  }

  // Symbols form a linked list; a merged symbol keeps the left one's slot and
  // its right neighbour is unlinked.
  struct Symbol {
    int32_t id;
    int32_t prev;
    int32_t next;
    bool alive;
  };
  // Candidates pop lowest rank first, then leftmost; stale ones (a side
  // already merged elsewhere) are skipped when popped. This is the order of
  // the `tokenizers` library, which matters when merge ranks are not
  // consistent with each other.
  struct Candidate {
    int32_t rank;
    int32_t pos;
    int32_t merged;
  };
  auto later = [](const Candidate& a, const Candidate& b) {
    return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
  };
  thread_local std::vector<Symbol> symbols;
  thread_local std::vector<Candidate> heap;
  symbols.clear();
  heap.clear();

  for (char c : word) {
    int32_t id = byte_ids_[static_cast<unsigned char>(c)];
    // Bytes missing from the vocabulary become unk, or are dropped when
    // there is none, as in `tokenizers`.
    if (id < 0) id = unk_id_;
    if (id < 0) continue;
    const auto index = static_cast<int32_t>(symbols.size());
    symbols.push_back({id, index - 1, index + 1, true});
  }
  if (symbols.empty()) return;
  symbols.back().next = -1;

  auto push_candidate = [&](int32_t pos) {
    const Symbol& s = symbols[pos];
    if (s.next < 0) return;
    if (const MergeTable::Entry* e = merges_.find(s.id, symbols[s.next].id)) {
      heap.push_back({e->rank, pos, e->merged});
      std::push_heap(heap.begin(), heap.end(), later);
    }
  };
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i) push_candidate(i);

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    const Candidate top = heap.back();
    heap.pop_back();
    Symbol& s = symbols[top.pos];
    if (!s.alive || s.next < 0) continue;
    Symbol& right = symbols[s.next];
    const MergeTable::Entry* e = merges_.find(s.id, right.id);
    if (e == nullptr || e->merged != top.merged) continue;
    s.id = top.merged;
    right.alive = false;
    s.next = right.next;
    if (s.next >= 0) symbols[s.next].prev = top.pos;
    if (s.prev >= 0) push_candidate(s.prev);
    push_candidate(top.pos);
  }
  for (int32_t i = 0; i >= 0; i = symbols[i].next) out.push_back(symbols[i].id);
  // One huge word should not pin its scratch memory to the thread for good.
  constexpr std::size_t kKeepScratch = 1 << 16;
  if (symbols.capacity() > kKeepScratch) std::vector<Symbol>().swap(symbols);
  if (heap.capacity() > kKeepScratch) std::vector<Candidate>().swap(heap);
}

std::size_t BpeModel::cache_size() const {
  std::shared_lock lock(cache_mutex_);
  return cache_.size();
}

}  // namespace selattn
