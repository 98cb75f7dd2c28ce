/* Generates a few tokens with the installed C API: consumer_c MODEL_DIR */
#include <stdio.h>
#include <string.h>

#include <selattn/selattn_c.h>

static int print_piece(const char* piece, size_t len, void* user) {
  (void)user;
  fwrite(piece, 1, len, stdout);
  return 1;
}

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  selattn_model* model = NULL;
  if (selattn_model_load(argv[1], NULL, &model) != SELATTN_OK) {
    fprintf(stderr, "error: %s\n", selattn_last_error());
    return 1;
  }
  selattn_session* session = NULL;
  selattn_session_create(model, NULL, &session);
  selattn_generate_params p = selattn_generate_default_params();
  p.max_tokens = 8;
  p.temperature = 0.0f;
  p.ignore_eos = 1;
  selattn_generate_result r;
  const char* prompt = "The lighthouse keeper";
  printf("c (selattn %s):", selattn_version());
  const selattn_status st = selattn_generate(session, prompt, strlen(prompt), &p, print_piece, NULL, &r);
  printf("\n");
  selattn_session_free(session);
  selattn_model_free(model);
  return st == SELATTN_OK && r.n_tokens == 8 ? 0 : 1;
}
