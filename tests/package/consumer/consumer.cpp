// Generates a few tokens with the installed C++ API: selattn_consumer MODEL_DIR
#include <cstdio>

#include <selattn/selattn.h>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  try {
    auto model = selattn::Model::load(argv[1]);
    const selattn::Tokenizer tok = selattn::Tokenizer::load(argv[1]);
    selattn::Session session(model);
    selattn::GenerateOptions options;
    options.max_tokens = 8;
    options.sampling.temperature = 0.0f;
    options.ignore_eos = true;
    const selattn::GenerateResult r = session.generate("The lighthouse keeper", tok, options);
    std::printf("cpp: %d tokens:%s\n", static_cast<int>(r.tokens.size()), r.text.c_str());
    return r.tokens.size() == 8 ? 0 : 1;
  } catch (const selattn::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
