#include "selattn/tokenizer.h"

#include <algorithm>
#include <cstdio>

#include "core/check.h"
#include "io/file_util.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/utf8.h"

namespace selattn {
namespace {

constexpr const char* kEndOfText = "<|endoftext|>";

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

TokenizerFiles read_files(const std::string& path) {
  if (file_exists(path)) {
    check(ends_with(path, ".json"), path, ": expected a tokenizer.json file or a folder holding the tokenizer");
    return read_tokenizer_json(path);
  }
  check(dir_exists(path), path, ": no such file or folder (expected a tokenizer folder or tokenizer.json)");
  const std::string json_path = join_path(path, "tokenizer.json");
  if (file_exists(json_path)) return read_tokenizer_json(json_path);
  const std::string vocab_path = join_path(path, "vocab.json");
  const std::string merges_path = join_path(path, "merges.txt");
  const bool have_vocab = file_exists(vocab_path), have_merges = file_exists(merges_path);
  check(have_vocab || have_merges, path, ": no tokenizer files: expected tokenizer.json, or vocab.json and merges.txt");
  check(have_vocab, vocab_path, ": missing (", merges_path, " needs it)");
  check(have_merges, merges_path, ": missing (", vocab_path, " needs it)");
  return read_vocab_and_merges(vocab_path, merges_path);
}

std::string hex_byte(unsigned char b) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "0x%02X", b);
  return buf;
}

}  // namespace

// Unused ids a vocabulary may have beside its tokens.
constexpr int64_t kIdSlack = 1024;

Tokenizer::Impl::Impl(TokenizerFiles files, std::size_t cache_capacity)
    : source(files.source),
      add_prefix_space(files.add_prefix_space),
      added(files.added_tokens),
      bpe(files, cache_capacity) {
  int32_t size = 0;
  for (const auto& [piece, id] : files.vocab) size = std::max(size, id + 1);
  for (const auto& t : files.added_tokens) size = std::max(size, t.id + 1);
  // The id tables are sized by the largest id, so it must be in proportion
  // to the tokens the files define (ids are dense in practice; a few gaps
  // for added tokens are allowed), never a number a file merely states.
  const int64_t defined = static_cast<int64_t>(files.vocab.size() + files.added_tokens.size());
  check(size <= defined + kIdSlack, files.source, ": token id ", size - 1, " is far beyond the ", defined,
        " tokens the files define (ids must lie in [0, ", defined + kIdSlack, "))");
  pieces.resize(size);
  bytes.resize(size);
  kinds.assign(size, TokenKind::kNone);
  ids_by_piece.reserve(files.vocab.size() + files.added_tokens.size());

  for (auto& [piece, id] : files.vocab) {
    // A piece outside the byte alphabet stands for its own UTF-8, as the
    // ByteLevel decoder of `tokenizers` treats it.
    if (!piece_to_bytes(piece, bytes[id])) bytes[id] = piece;
    kinds[id] = TokenKind::kVocab;
    ids_by_piece.emplace(piece, id);
    pieces[id] = std::move(piece);
  }
  for (const auto& t : files.added_tokens) {
    // Added tokens are written as plain text, not in the byte alphabet.
    bytes[t.id] = t.content;
    if (kinds[t.id] == TokenKind::kNone) pieces[t.id] = t.content;
    kinds[t.id] = t.special ? TokenKind::kSpecial : TokenKind::kAdded;
    ids_by_piece.emplace(t.content, t.id);
  }
  if (auto it = ids_by_piece.find(kEndOfText); it != ids_by_piece.end()) eos_id = it->second;
  if (files.use_regex) pre_tokenizer = std::make_unique<PreTokenizer>();
}

void Tokenizer::Impl::encode_into(std::string_view text, bool allow_special, std::vector<int32_t>& out) const {
  std::vector<AddedTokenMatcher::Segment> segments;
  added.split(text, allow_special, segments);
  for (const auto& segment : segments) {
    if (segment.id >= 0) {
      out.push_back(segment.id);
    } else if (add_prefix_space && segment.text.front() != ' ') {
      std::string prefixed;
      prefixed.reserve(segment.text.size() + 1);
      prefixed += ' ';
      prefixed += segment.text;
      encode_plain(prefixed, out);
    } else {
      encode_plain(segment.text, out);
    }
  }
}

void Tokenizer::Impl::encode_plain(std::string_view text, std::vector<int32_t>& out) const {
  if (!pre_tokenizer) {
    bpe.encode_word(text, out);
    return;
  }
  std::vector<std::string_view> words;
  words.reserve(text.size() / 4 + 1);
  pre_tokenizer->split(text, words);
  for (std::string_view word : words) bpe.encode_word(word, out);
}

const std::string& Tokenizer::Impl::bytes_of(int32_t id) const {
  check(id >= 0 && id < static_cast<int32_t>(bytes.size()), "token id ", id, " is out of range [0, ", bytes.size(),
        ")");
  check(kinds[id] != TokenKind::kNone, "token id ", id, " has no token (a gap in the vocabulary of ", source, ")");
  return bytes[id];
}

Tokenizer Tokenizer::load(const std::string& path) {
  return Tokenizer(std::make_shared<const Impl>(read_files(path), kCacheCapacity));
}

Tokenizer::Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(const Tokenizer&) = default;
Tokenizer& Tokenizer::operator=(const Tokenizer&) = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool allow_special) const {
  const std::size_t bad = utf8_find_invalid(text);
  if (bad != std::string_view::npos) {
    fail("encode: invalid UTF-8 at byte offset ", bad, " (byte ", hex_byte(static_cast<unsigned char>(text[bad])), ")");
  }
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 1);
  impl_->encode_into(text, allow_special, out);
  return out;
}

std::string Tokenizer::decode(std::span<const int32_t> ids) const {
  std::string out;
  for (int32_t id : ids) {
    try {
      out += impl_->bytes_of(id);
    } catch (const Error& e) {
      fail("decode: ", e.what());
    }
  }
  return out;
}

std::string Tokenizer::token_piece(int32_t id) const {
  impl_->bytes_of(id);  // checks the id
  return impl_->pieces[id];
}

std::string Tokenizer::token_bytes(int32_t id) const { return impl_->bytes_of(id); }

int32_t Tokenizer::token_id(std::string_view piece) const {
  auto it = impl_->ids_by_piece.find(std::string(piece));
  return it == impl_->ids_by_piece.end() ? -1 : it->second;
}

int Tokenizer::vocab_size() const { return static_cast<int>(impl_->bytes.size()); }

int32_t Tokenizer::eos_id() const { return impl_->eos_id; }

bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && id < vocab_size() && impl_->kinds[id] == TokenKind::kSpecial;
}

}  // namespace selattn
