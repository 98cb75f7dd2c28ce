#include "io/tokenizer_files.h"

#include <string_view>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "core/check.h"
#include "core/log.h"
#include "io/file_util.h"

namespace selattn {
namespace {

using json = nlohmann::json;
using VocabIndex = std::unordered_map<std::string, int32_t>;

const char* kEndOfText = "<|endoftext|>";

json parse_json_file(const std::string& path) {
  const std::string text = read_text_file(path);
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    fail(path, ": invalid JSON: ", e.what());
  }
}

// The value of key in obj, or nullptr when it is absent or null.
const json* find_value(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

bool bool_field(const json& obj, const char* key, bool fallback, const std::string& where) {
  const json* v = find_value(obj, key);
  if (v == nullptr) return fallback;
  check(v->is_boolean(), where, ".", key, ": expected true or false, found ", v->type_name());
  return v->get<bool>();
}

std::string type_field(const json& obj, const std::string& where) {
  const json* v = find_value(obj, "type");
  if (v == nullptr) return {};
  check(v->is_string(), where, ".type: expected a string, found ", v->type_name());
  return v->get<std::string>();
}

// vocab must be an object of piece -> non-negative id, each id used once.
std::vector<std::pair<std::string, int32_t>> parse_vocab(const json& vocab, const std::string& where) {
  check(vocab.is_object(), where, ": expected a JSON object of string to integer, found ", vocab.type_name());
  std::vector<std::pair<std::string, int32_t>> out;
  out.reserve(vocab.size());
  std::unordered_map<int32_t, std::string> seen;
  seen.reserve(vocab.size());
  for (const auto& [piece, id] : vocab.items()) {
    check(id.is_number_integer(), where, "[\"", piece, "\"]: expected an integer id, found ", id.type_name());
    const auto value = id.get<int64_t>();
    check(value >= 0 && value < (int64_t{1} << 30), where, "[\"", piece, "\"]: id ", value, " is out of range");
    const auto id32 = static_cast<int32_t>(value);
    auto [it, inserted] = seen.emplace(id32, piece);
    check(inserted, where, ": id ", id32, " is given to both \"", it->second, "\" and \"", piece, "\"");
    out.emplace_back(piece, id32);
  }
  return out;
}

VocabIndex index_vocab(const std::vector<std::pair<std::string, int32_t>>& vocab) {
  VocabIndex index;
  index.reserve(vocab.size());
  for (const auto& [piece, id] : vocab) index.emplace(piece, id);
  return index;
}

// where names the merge ("file: model.merges[3]" or "file:12") for errors.
TokenizerMerge resolve_merge(const VocabIndex& index, const std::string& left, const std::string& right,
                             const std::string& where) {
  auto find = [&](const std::string& piece, const char* what) {
    auto it = index.find(piece);
    check(it != index.end(), where, ": the ", what, " token \"", piece, "\" is not in the vocabulary");
    return it->second;
  };
  TokenizerMerge m;
  m.left = find(left, "first");
  m.right = find(right, "second");
  m.merged = find(left + right, "merged");
  return m;
}

// One merge as tokenizers writes it: "a b", or ["a", "b"] since 0.20.
std::pair<std::string, std::string> split_merge(const json& entry, const std::string& where) {
  if (entry.is_string()) {
    const auto s = entry.get<std::string>();
    const auto space = s.find(' ');
    check(space != std::string::npos && s.find(' ', space + 1) == std::string::npos, where,
          ": expected \"left right\" with one space, found \"", s, "\"");
    return {s.substr(0, space), s.substr(space + 1)};
  }
  check(entry.is_array() && entry.size() == 2 && entry[0].is_string() && entry[1].is_string(), where,
        ": expected a string \"left right\" or a pair of strings, found ", entry.dump());
  return {entry[0].get<std::string>(), entry[1].get<std::string>()};
}

// Finds the ByteLevel step of the pre-tokenizer, alone or in a Sequence.
const json& find_byte_level(const json& root, const std::string& path) {
  const json* pre = find_value(root, "pre_tokenizer");
  check(pre != nullptr && pre->is_object(), path, ": pre_tokenizer: expected ByteLevel, found ",
        pre == nullptr ? "null" : pre->type_name());
  const std::string type = type_field(*pre, path + ": pre_tokenizer");
  if (type == "ByteLevel") return *pre;
  check(type == "Sequence", path, ": pre_tokenizer: expected ByteLevel, found \"", type, "\"");
  const json* steps = find_value(*pre, "pretokenizers");
  check(steps != nullptr && steps->is_array() && steps->size() == 1 && (*steps)[0].is_object() &&
            type_field((*steps)[0], path + ": pre_tokenizer") == "ByteLevel",
        path, ": pre_tokenizer: a Sequence is supported only when it holds ByteLevel alone");
  return (*steps)[0];
}

void check_model_options(const json& model, const std::string& where) {
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const json* v = find_value(model, key);
    check(v == nullptr || (v->is_string() && v->get<std::string>().empty()), where, ".", key,
          ": not supported by byte-level BPE, found ", v == nullptr ? "" : v->dump());
  }
  check(!bool_field(model, "byte_fallback", false, where), where,
        ".byte_fallback: true is not supported by byte-level BPE");
  const json* dropout = find_value(model, "dropout");
  if (dropout != nullptr && dropout->is_number() && dropout->get<double>() > 0.0) {
    log_warn(where, ".dropout: ignored; encoding is deterministic");
  }
}

std::vector<TokenizerAddedToken> parse_added_tokens(const json& root, const std::string& path) {
  std::vector<TokenizerAddedToken> out;
  const json* added = find_value(root, "added_tokens");
  if (added == nullptr) return out;
  check(added->is_array(), path, ": added_tokens: expected an array, found ", added->type_name());
  for (std::size_t i = 0; i < added->size(); ++i) {
    const json& t = (*added)[i];
    const std::string where = str_cat(path, ": added_tokens[", i, "]");
    check(t.is_object(), where, ": expected an object, found ", t.type_name());
    const json* id = find_value(t, "id");
    const json* content = find_value(t, "content");
    check(
        id != nullptr && id->is_number_integer() && id->get<int64_t>() >= 0 && id->get<int64_t>() < (int64_t{1} << 30),
        where, ".id: expected a non-negative integer");
    check(content != nullptr && content->is_string() && !content->get<std::string>().empty(), where,
          ".content: expected a non-empty string");
    TokenizerAddedToken a;
    a.id = static_cast<int32_t>(id->get<int64_t>());
    a.content = content->get<std::string>();
    a.special = bool_field(t, "special", false, where);
    a.lstrip = bool_field(t, "lstrip", false, where);
    a.rstrip = bool_field(t, "rstrip", false, where);
    a.single_word = bool_field(t, "single_word", false, where);
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace

TokenizerFiles read_tokenizer_json(const std::string& path) {
  const json root = parse_json_file(path);
  check(root.is_object(), path, ": expected a JSON object at the top level, found ", root.type_name());

  const json* model = find_value(root, "model");
  check(model != nullptr && model->is_object(), path, ": model: expected an object");
  const std::string model_type = type_field(*model, path + ": model");
  // Files from early tokenizers versions leave the type out; merges mark BPE.
  check(model_type == "BPE" || (model_type.empty() && model->contains("merges")), path,
        ": model.type: expected \"BPE\", found \"", model_type, "\"");
  check_model_options(*model, path + ": model");

  const json* normalizer = find_value(root, "normalizer");
  if (normalizer != nullptr) {
    const json* steps = find_value(*normalizer, "normalizers");
    const bool empty_sequence = type_field(*normalizer, path + ": normalizer") == "Sequence" && steps != nullptr &&
                                steps->is_array() && steps->empty();
    check(empty_sequence, path, ": normalizer: not supported, found ", normalizer->dump());
  }
  const json* decoder = find_value(root, "decoder");
  if (decoder != nullptr && type_field(*decoder, path + ": decoder") != "ByteLevel") {
    log_warn(path, ": decoder is not ByteLevel; decoding maps the byte alphabet back all the same");
  }

  TokenizerFiles out;
  out.source = path;
  const json& byte_level = find_byte_level(root, path);
  out.add_prefix_space = bool_field(byte_level, "add_prefix_space", false, path + ": pre_tokenizer");
  out.use_regex = bool_field(byte_level, "use_regex", true, path + ": pre_tokenizer");
  out.ignore_merges = bool_field(*model, "ignore_merges", false, path + ": model");

  const json* vocab = find_value(*model, "vocab");
  check(vocab != nullptr, path, ": model.vocab: missing");
  out.vocab = parse_vocab(*vocab, path + ": model.vocab");
  const VocabIndex index = index_vocab(out.vocab);

  const json* merges = find_value(*model, "merges");
  check(merges != nullptr && merges->is_array(), path, ": model.merges: expected an array");
  out.merges.reserve(merges->size());
  for (std::size_t i = 0; i < merges->size(); ++i) {
    const std::string where = str_cat(path, ": model.merges[", i, "]");
    const auto [left, right] = split_merge((*merges)[i], where);
    out.merges.push_back(resolve_merge(index, left, right, where));
  }

  if (const json* unk = find_value(*model, "unk_token")) {
    check(unk->is_string(), path, ": model.unk_token: expected a string, found ", unk->type_name());
    auto it = index.find(unk->get<std::string>());
    check(it != index.end(), path, ": model.unk_token \"", unk->get<std::string>(), "\" is not in the vocabulary");
    out.unk_id = it->second;
  }
  out.added_tokens = parse_added_tokens(root, path);
  return out;
}

TokenizerFiles read_vocab_and_merges(const std::string& vocab_path, const std::string& merges_path) {
  TokenizerFiles out;
  out.source = vocab_path + " + " + merges_path;
  out.vocab = parse_vocab(parse_json_file(vocab_path), vocab_path);
  const VocabIndex index = index_vocab(out.vocab);

  const std::string text = read_text_file(merges_path);
  std::size_t line_no = 0;
  for (std::size_t pos = 0; pos < text.size();) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || (line_no == 1 && line.starts_with("#version"))) continue;
    const std::string where = str_cat(merges_path, ":", line_no);
    const auto space = line.find(' ');
    check(space != std::string_view::npos && line.find(' ', space + 1) == std::string_view::npos, where,
          ": expected \"left right\" with one space, found \"", line, "\"");
    out.merges.push_back(
        resolve_merge(index, std::string(line.substr(0, space)), std::string(line.substr(space + 1)), where));
  }

  if (auto it = index.find(kEndOfText); it != index.end()) {
    TokenizerAddedToken eot;
    eot.id = it->second;
    eot.content = kEndOfText;
    eot.special = true;
    out.added_tokens.push_back(std::move(eot));
  }
  return out;
}

}  // namespace selattn
