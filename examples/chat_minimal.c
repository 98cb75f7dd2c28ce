/* Generation from C in a few lines: one line in, a streamed continuation out,
 * the same session kept for the next line (its KV cache held at 32 tokens a
 * layer).
 *
 *   chat_minimal_c [MODEL_DIR]      (default: the bundled selective model)
 */
#include <stdio.h>
#include <string.h>

#include <selattn/selattn_c.h>

static int print_piece(const char* piece, size_t len, void* user_data) {
  (void)user_data;
  fwrite(piece, 1, len, stdout);
  fflush(stdout);
  return 1; /* 0 would stop */
}

int main(int argc, char** argv) {
  const char* dir = argc > 1 ? argv[1] : SELATTN_EXAMPLE_MODEL;
  selattn_model* model = NULL;
  if (selattn_model_load(dir, NULL, &model) != SELATTN_OK) {
    fprintf(stderr, "error: %s\n", selattn_last_error());
    return 1;
  }
  selattn_session_params sp = selattn_session_default_params();
  const int budget[1] = {32};
  sp.kv_policy = "selective";
  sp.kv_budgets = budget;
  sp.n_kv_budgets = 1;
  selattn_session* session = NULL;
  if (selattn_session_create(model, &sp, &session) != SELATTN_OK) {
    fprintf(stderr, "error: %s\n", selattn_model_error(model));
    return 1;
  }
  selattn_generate_params gp = selattn_generate_default_params();
  gp.max_tokens = 48;
  const char* stop[1] = {"\n"};
  gp.stop = stop;
  gp.n_stop = 1;

  char line[1024];
  while (printf("> "), fflush(stdout), fgets(line, sizeof line, stdin) != NULL) {
    selattn_generate_result r;
    if (selattn_generate(session, line, strlen(line), &gp, print_piece, NULL, &r) != SELATTN_OK) {
      fprintf(stderr, "\nerror: %s\n", selattn_session_error(session));
      break;
    }
    selattn_kv_stats st;
    selattn_session_kv_stats(session, &st);
    printf("\n  [%lld live tokens, %zu KiB of K/V]\n", (long long)st.live, st.kv_bytes / 1024);
  }
  selattn_session_free(session);
  selattn_model_free(model);
  return 0;
}
