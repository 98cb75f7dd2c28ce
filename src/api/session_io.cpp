// Saving, loading and forking sessions. The file, in the host's byte order:
//   "SELATTN-SESSION\0", format version (u32)
//   the model: n_layer, n_head, n_embd, n_inner, n_positions, vocab_size,
//     selective attention and its head, weights format, K/V type, page size,
//     and a fingerprint of its weights (FNV-1a of a few embedding rows and the
//     final layernorm)
//   the session options: n_ctx, n_batch, policy, recent, sinks, budgets
//   the last logits (when there are some), the tokens appended
//   the cache (PagedKvCache::save)
//   an FNV-1a checksum of everything before it
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "api/session_impl.h"
#include "core/binary_io.h"
#include "core/check.h"

namespace selattn {

// The one outside reader of a Session's state (a friend of Session).
struct SessionIo {
  static Session::Impl& impl(const Session& s) { return s.impl(); }
};

namespace {

constexpr char kMagic[16] = "SELATTN-SESSION";
constexpr uint32_t kVersion = 1;

uint64_t weights_fingerprint(const Model& model) {
  const Gpt2Weights& w = model.impl().weights;
  const int64_t C = w.wte.cols;
  std::vector<float> row(C);
  uint64_t h = kFnv1aStart;
  for (int64_t r = 0; r < std::min<int64_t>(16, w.wte.rows); ++r) {
    w.wte.row_to_f32(r, row.data());
    h = fnv1a(h, row.data(), row.size() * sizeof(float));
  }
  h = fnv1a(h, w.lnf_w.data(), w.lnf_w.size() * sizeof(float));
  h = fnv1a(h, w.lnf_b.data(), w.lnf_b.size() * sizeof(float));
  return h;
}

void write_model(BinaryWriter& out, const Model& model) {
  const ModelConfig& c = model.config();
  for (int32_t v : {c.n_layer, c.n_head, c.n_embd, c.n_inner, c.n_positions, c.vocab_size,
                    static_cast<int32_t>(c.selective.enabled), c.selective.selection_head}) {
    out.value(v);
  }
  out.string(model.info().memory_dtype);
  out.value<uint64_t>(weights_fingerprint(model));
}

void check_model(BinaryReader& in, const Model& model) {
  const ModelConfig& c = model.config();
  const char* names[] = {
      "n_layer", "n_head", "n_embd", "n_inner", "n_positions", "vocab_size", "selective attention", "selection head"};
  const int32_t want[] = {c.n_layer,
                          c.n_head,
                          c.n_embd,
                          c.n_inner,
                          c.n_positions,
                          c.vocab_size,
                          static_cast<int32_t>(c.selective.enabled),
                          c.selective.selection_head};
  for (int i = 0; i < 8; ++i) {
    const auto got = in.value<int32_t>(names[i]);
    check(got == want[i], in.where(), ": saved for a model with ", names[i], " ", got, "; this model has ", want[i]);
  }
  const std::string dtype = in.string("weights format", 64);
  check(dtype == model.info().memory_dtype, in.where(), ": saved with weights held as ", dtype,
        "; this model holds them as ", model.info().memory_dtype, " (load it with the same --weights)");
  const auto fp = in.value<uint64_t>("weights fingerprint");
  check(fp == weights_fingerprint(model), in.where(),
        ": saved with other weights (same shape, different values): load it with the model it was saved with");
}

void write_session(BinaryWriter& out, const Model& model, const SessionOptions& o, const std::vector<float>& logits,
                   bool has_logits, const std::vector<int32_t>& tokens, const PagedKvCache& cache) {
  out.bytes(kMagic, sizeof kMagic);
  out.value(kVersion);
  write_model(out, model);
  out.value<int32_t>(o.n_ctx);
  out.value<int32_t>(o.n_batch);
  out.value<int32_t>(static_cast<int32_t>(o.kv.policy));
  out.value<int32_t>(o.kv.recent);
  out.value<int32_t>(o.kv.sinks);
  std::vector<int32_t> budgets(o.kv.budgets.begin(), o.kv.budgets.end());
  out.array(budgets);
  out.value<uint8_t>(has_logits ? 1 : 0);
  if (has_logits) out.bytes(logits.data(), logits.size() * sizeof(float));
  out.array(tokens);
  cache.save(out);
  const uint64_t sum = out.checksum();
  out.value(sum);
}

Session read_session(std::shared_ptr<const Model> model, std::istream& is, const std::string& where) {
  BinaryReader in(is, where);
  char magic[sizeof kMagic];
  in.bytes(magic, sizeof magic, "the file's magic");
  check(std::memcmp(magic, kMagic, sizeof kMagic) == 0, where, ": not a selattn session file");
  const auto version = in.value<uint32_t>("the format version");
  check(version == kVersion, where, ": session format version ", version, "; this build reads version ", kVersion);
  check_model(in, *model);
  SessionOptions o;
  o.n_ctx = in.value<int32_t>("n_ctx");
  o.n_batch = in.value<int32_t>("n_batch");
  const auto policy = in.value<int32_t>("KV policy");
  check(policy >= 0 && policy <= static_cast<int32_t>(KvPolicy::kStreaming), where, ": unknown KV policy ", policy);
  o.kv.policy = static_cast<KvPolicy>(policy);
  o.kv.recent = in.value<int32_t>("h2o recent window");
  o.kv.sinks = in.value<int32_t>("streaming sinks");
  const std::vector<int32_t> budgets = in.array<int32_t>("KV budgets", static_cast<uint64_t>(model->config().n_layer));
  o.kv.budgets.assign(budgets.begin(), budgets.end());
  Session s(model, o);  // checks the options like any new session
  auto& impl = SessionIo::impl(s);
  const bool has_logits = in.value<uint8_t>("logits flag") != 0;
  if (has_logits) in.bytes(impl.last_logits.data(), impl.last_logits.size() * sizeof(float), "logits");
  std::vector<int32_t> tokens =
      in.array<int32_t>("tokens", static_cast<uint64_t>(o.n_ctx > 0 ? o.n_ctx : model->config().n_positions));
  for (int32_t t : tokens)
    check(t >= 0 && t < model->config().vocab_size, where, ": a saved token id ", t, " is outside the vocabulary");
  impl.cache.load(in);
  check(static_cast<int>(tokens.size()) == impl.cache.n_past(), where, ": ", tokens.size(), " tokens saved for ",
        impl.cache.n_past(), " positions");
  impl.tokens = std::move(tokens);
  const uint64_t computed = in.checksum();
  const auto stored = in.value<uint64_t>("checksum");
  check(stored == computed, where, ": checksum mismatch: the file is corrupt");
  check(is.peek() == std::char_traits<char>::eof(), where, ": unexpected bytes after the session");
  impl.has_logits = has_logits;
  return s;
}

}  // namespace

void Session::save(const std::string& path) const {
  const Impl& s = impl();
  check(!path.empty(), "Session::save: expected a file path, found an empty string");
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    check(f.good(), path, ": cannot write (", std::strerror(errno), ")");
    BinaryWriter out(f);
    write_session(out, *s.model, s.options, s.last_logits, s.has_logits, s.tokens, s.cache);
    f.flush();
    if (!f.good()) {
      std::remove(tmp.c_str());
      fail(path, ": write failed (disk full?)");
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::remove(tmp.c_str());
    fail(path, ": cannot replace the file: ", ec.message());
  }
}

Session Session::load(std::shared_ptr<const Model> model, const std::string& path) {
  check(model != nullptr, "Session::load: expected a loaded model, found null");
  std::ifstream f(path, std::ios::binary);
  check(f.good(), path, ": cannot open the session file (", std::strerror(errno), ")");
  return read_session(std::move(model), f, path);
}

Session Session::fork() const {
  const Impl& s = impl();
  std::stringstream buf(std::ios::in | std::ios::out | std::ios::binary);
  BinaryWriter out(buf);
  write_session(out, *s.model, s.options, s.last_logits, s.has_logits, s.tokens, s.cache);
  return read_session(s.model, buf, "fork");
}

}  // namespace selattn
