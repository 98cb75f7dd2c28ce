// Saved sessions: Session::load of an arbitrary file against the tiny
// fixture model (tests/data/models/tiny-a-f32), then use of what loaded.
//
// A checksum is no defence against a crafted file, and random bytes almost
// never match one, so the target first rewrites the last 8 bytes as the
// FNV-1a checksum of the rest (what Session::save writes there): mutations
// then reach everything a session file holds, not only its checksum test.
// A session that loads must also append a token, fork, save, and load again.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "core/binary_io.h"
#include "fuzz/fuzz_util.h"
#include "selattn/error.h"
#include "selattn/model.h"

namespace {
std::shared_ptr<const selattn::Model> g_model;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  selattn::fuzz::quiet_library();
  selattn::ModelOptions o;
  o.n_threads = 1;
  g_model = selattn::Model::load(SELATTN_TEST_DATA "/models/tiny-a-f32", o);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  std::string bytes(selattn::fuzz::as_view(data, size));
  if (bytes.size() >= 8) {
    const uint64_t sum = selattn::fnv1a(selattn::kFnv1aStart, bytes.data(), bytes.size() - 8);
    std::memcpy(bytes.data() + bytes.size() - 8, &sum, 8);
  }
  const std::string path = selattn::fuzz::write_scratch("session.bin", bytes);
  std::unique_ptr<selattn::Session> s;
  try {
    s = std::make_unique<selattn::Session>(selattn::Session::load(g_model, path));
  } catch (const selattn::Error&) {
    return 0;
  }
  (void)s->kv_stats();
  for (int l = 0; l < g_model->config().n_layer; ++l) (void)s->kv_evicted(l);
  // A loaded session must keep working: decode a token (when there is room)...
  if (s->n_past() < s->n_ctx()) {
    const int32_t t = 1;
    try {
      (void)s->append(std::span<const int32_t>(&t, 1));
    } catch (const selattn::Error&) {
    }
  }
  // ...and go through fork and another save/load round: what this build
  // accepted and wrote, it must read back.
  try {
    (void)s->fork();
    const std::string again = (selattn::fuzz::scratch_dir() / "again.bin").string();
    s->save(again);
    (void)selattn::Session::load(g_model, again);
  } catch (const selattn::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    selattn::fuzz::property_failed("a loaded session did not fork, save and load again");
  }
  return 0;
}
