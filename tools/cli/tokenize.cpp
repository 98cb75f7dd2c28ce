// `selattn tokenize`: text to ids (or pieces) with a model's tokenizer files.
#include <cstdio>
#include <memory>
#include <string>

#include "commands.h"
#include "common.h"
#include "selattn/selattn.h"

namespace selattn::cli {

Runner add_tokenize(CLI::App& app) {
  struct Args {
    std::string tokenizer, text, file;
    bool ids = false, pieces = false, special = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("tokenize", "Print the token ids (or pieces) of a text; needs only tokenizer files");
  cmd->add_option("-t,--tokenizer", a->tokenizer,
                  "Folder with tokenizer.json or vocab.json + merges.txt (a model folder works), or a tokenizer.json")
      ->required();
  auto* text_opt = cmd->add_option("text", a->text, "The text to tokenize");
  auto* file_opt = cmd->add_option("-f,--file", a->file, "Read the text from a file ('-' for stdin)");
  text_opt->excludes(file_opt);
  auto* ids_flag = cmd->add_flag("--ids", a->ids, "Print ids as a JSON array (the default)");
  cmd->add_flag("--pieces", a->pieces, "Print the vocabulary pieces as a JSON array of strings")->excludes(ids_flag);
  cmd->add_flag("--special", a->special, "Recognise special tokens such as <|endoftext|> written in the text");
  return [a] {
    const Tokenizer tok = Tokenizer::load(a->tokenizer);
    const std::string text = a->file.empty() ? a->text : read_input_file(a->file);
    const auto ids = tok.encode(text, a->special);
    std::string out = "[";
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (i) out += ", ";
      out += a->pieces ? json_escape(tok.token_piece(ids[i])) : std::to_string(ids[i]);
    }
    out += "]\n";
    std::fwrite(out.data(), 1, out.size(), stdout);
    return 0;
  };
}

}  // namespace selattn::cli
