// .safetensors files: SafetensorsFile on an arbitrary file (the header length,
// the JSON header, dtypes, shapes, offsets), then, for files it accepts, a
// whole Model::load with the tiny fixture's config.json beside it, so that
// the tensors are matched to the config, converted and packed.
#include <cstddef>
#include <cstdint>
#include <filesystem>

#include "fuzz/fuzz_util.h"
#include "io/safetensors.h"
#include "selattn/error.h"
#include "selattn/model.h"

namespace {
std::filesystem::path g_model_dir;  // config.json (the fixture's) + model.safetensors (the input)
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  selattn::fuzz::quiet_library();
  g_model_dir = selattn::fuzz::scratch_dir() / "model";
  std::filesystem::create_directories(g_model_dir);
  std::filesystem::copy_file(SELATTN_TEST_DATA "/models/tiny-a-f32/config.json", g_model_dir / "config.json",
                             std::filesystem::copy_options::overwrite_existing);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string path = selattn::fuzz::write_scratch("model/model.safetensors", selattn::fuzz::as_view(data, size));
  try {
    const selattn::SafetensorsFile file(path);
    // Every tensor must lie inside the mapping (an mmap, which ASan does not
    // bound), and its bytes are read once.
    const uint8_t* begin = file.mapping().data();
    const uint8_t* end = begin + file.mapping().size();
    uint8_t sum = 0;
    for (const auto& [name, t] : file.tensors()) {
      if (t.nbytes > 0 && (t.data < begin || t.data > end || t.nbytes > static_cast<std::size_t>(end - t.data)))
        selattn::fuzz::property_failed("a tensor reaches outside the file");
      for (std::size_t i = 0; i < t.nbytes; ++i) sum ^= t.data[i];
    }
    volatile uint8_t keep = sum;
    (void)keep;
  } catch (const selattn::Error&) {
    return 0;
  }
  try {
    selattn::ModelOptions o;
    o.n_threads = 1;
    (void)selattn::Model::load(g_model_dir.string(), o);
  } catch (const selattn::Error&) {
  }
  return 0;
}
