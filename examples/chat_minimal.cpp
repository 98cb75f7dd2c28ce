// A terminal chat in a few lines of the C++ API: one line a turn, replies
// streamed, the KV cache held at 32 tokens a layer however long it goes.
//
//   chat_minimal_cpp [MODEL_DIR]      (default: the bundled selective model)
#include <iostream>
#include <string>

#include <selattn/selattn.h>

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : SELATTN_EXAMPLE_MODEL;
  try {
    auto model = selattn::Model::load(dir);
    selattn::ChatOptions options;
    options.session.kv.policy = selattn::KvPolicy::kSelective;
    options.session.kv.budgets = {32};  // live tokens per layer
    options.generate.max_tokens = 48;
    selattn::Chat chat(model, selattn::Tokenizer::load(dir), options);

    std::string line;
    while (std::cout << "> " << std::flush, std::getline(std::cin, line)) {
      chat.send(line, [](std::string_view piece) {
        std::cout << piece << std::flush;
        return true;  // false would stop the reply
      });
      const selattn::KvStats st = chat.session().kv_stats();
      std::cout << "\n  [" << st.live << " live tokens, " << st.kv_bytes / 1024 << " KiB of K/V]\n";
    }
  } catch (const selattn::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
