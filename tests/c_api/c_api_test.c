/* The C API driven from C99 on the tiny-tok fixture: load, tokens, greedy
 * generation equal to transformers' text, stop by callback, cancel, KV
 * statistics under a budget, and clean errors on bad input.
 *
 *   c_api_test MODEL_DIR PROMPT GREEDY_TEXT GREEDY_N [SCRATCH_DIR]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "selattn/selattn_c.h"

static int failures = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                              \
    }                                                                          \
  } while (0)

struct collected {
  char text[8192];
  size_t len;
  int calls;
  int stop_after;                 /* 0: never */
  selattn_session* cancel_after2; /* cancel once two pieces arrived */
};

static int on_piece(const char* piece, size_t len, void* user) {
  struct collected* c = (struct collected*)user;
  if (c->len + len < sizeof c->text) {
    memcpy(c->text + c->len, piece, len);
    c->len += len;
    c->text[c->len] = '\0';
  }
  ++c->calls;
  if (c->cancel_after2 != NULL && c->calls == 2) selattn_cancel(c->cancel_after2);
  return c->stop_after == 0 || c->calls < c->stop_after;
}

int main(int argc, char** argv) {
  if (argc != 5 && argc != 6) {
    fprintf(stderr, "usage: c_api_test MODEL_DIR PROMPT GREEDY_TEXT GREEDY_N [SCRATCH_DIR]\n");
    return 2;
  }
  const char* dir = argv[1];
  const char* prompt = argv[2];
  const char* greedy = argv[3];
  const int greedy_n = atoi(argv[4]);

  CHECK(strlen(selattn_version()) > 0);
  CHECK(strcmp(selattn_status_name(SELATTN_OK), "ok") == 0);

  /* A folder that is not there: no handle, the reason per thread. */
  selattn_model* model = (selattn_model*)1;
  CHECK(selattn_model_load("/nonexistent/model", NULL, &model) == SELATTN_ERROR_FAILED);
  CHECK(model == NULL);
  CHECK(strstr(selattn_last_error(), "/nonexistent/model") != NULL);
  CHECK(selattn_model_load(NULL, NULL, &model) == SELATTN_ERROR_INVALID_ARGUMENT);
  selattn_model_params mp = selattn_model_default_params();
  mp.weights = "int4";
  CHECK(selattn_model_load(dir, &mp, &model) == SELATTN_ERROR_FAILED);
  CHECK(strstr(selattn_last_error(), "int4") != NULL);

  mp = selattn_model_default_params();
  mp.n_threads = 2;
  if (selattn_model_load(dir, &mp, &model) != SELATTN_OK) {
    fprintf(stderr, "cannot load %s: %s\n", dir, selattn_last_error());
    return 1;
  }
  CHECK(selattn_model_has_tokenizer(model) == 1);
  CHECK(selattn_model_vocab_size(model) > 0);
  CHECK(selattn_model_n_layer(model) > 0);

  /* Tokens: a buffer too small says how much it needs; text round-trips. */
  int32_t ids[256];
  size_t n_ids = 0;
  CHECK(selattn_tokenize(model, prompt, strlen(prompt), 0, ids, 1, &n_ids) == SELATTN_ERROR_BUFFER_TOO_SMALL);
  CHECK(n_ids > 1);
  CHECK(selattn_tokenize(model, prompt, strlen(prompt), 0, ids, 256, &n_ids) == SELATTN_OK);
  char text[512];
  size_t n_bytes = 0;
  CHECK(selattn_detokenize(model, ids, n_ids, text, sizeof text, &n_bytes) == SELATTN_OK);
  CHECK(n_bytes == strlen(prompt) && memcmp(text, prompt, n_bytes) == 0);
  const char bad_utf8[] = {'a', 'b', (char)0xC3, (char)0x28, 0};
  CHECK(selattn_tokenize(model, bad_utf8, 4, 0, ids, 256, &n_ids) == SELATTN_ERROR_FAILED);
  CHECK(strstr(selattn_model_error(model), "UTF-8") != NULL);

  /* Greedy text equals transformers', streamed whole. */
  selattn_session* session = NULL;
  CHECK(selattn_session_create(model, NULL, &session) == SELATTN_OK);
  selattn_generate_params gp = selattn_generate_default_params();
  gp.max_tokens = greedy_n;
  gp.temperature = 0.0f;
  gp.ignore_eos = 1;
  struct collected c;
  memset(&c, 0, sizeof c);
  selattn_generate_result r;
  CHECK(selattn_generate(session, prompt, strlen(prompt), &gp, on_piece, &c, &r) == SELATTN_OK);
  CHECK(strcmp(c.text, greedy) == 0);
  if (strcmp(c.text, greedy) != 0) fprintf(stderr, "got      \"%s\"\nexpected \"%s\"\n", c.text, greedy);
  CHECK(r.reason == SELATTN_STOP_LENGTH);
  CHECK(r.n_tokens == greedy_n);
  CHECK(selattn_session_n_past(session) == r.prompt_tokens + r.n_tokens);

  selattn_kv_stats st;
  CHECK(selattn_session_kv_stats(session, &st) == SELATTN_OK);
  CHECK(st.n_past == selattn_session_n_past(session));
  CHECK(st.live == (int64_t)selattn_model_n_layer(model) * st.n_past);
  CHECK(st.kv_bytes > 0);

  /* The callback stops it; a cancel from the callback stops it before the next token. */
  memset(&c, 0, sizeof c);
  c.stop_after = 3;
  CHECK(selattn_session_reset(session) == SELATTN_OK);
  CHECK(selattn_generate(session, prompt, strlen(prompt), &gp, on_piece, &c, &r) == SELATTN_OK);
  CHECK(r.reason == SELATTN_STOP_CALLBACK && c.calls == 3);
  memset(&c, 0, sizeof c);
  c.cancel_after2 = session;
  CHECK(selattn_session_reset(session) == SELATTN_OK);
  CHECK(selattn_generate(session, prompt, strlen(prompt), &gp, on_piece, &c, &r) == SELATTN_OK);
  CHECK(r.reason == SELATTN_STOP_CANCELLED && r.n_tokens == 2);
  selattn_session_free(session);

  /* A selective budget holds each layer at 8 live tokens however long the text. */
  selattn_session_params sp = selattn_session_default_params();
  const int budget[1] = {8};
  sp.kv_policy = "selective";
  sp.kv_budgets = budget;
  sp.n_kv_budgets = 1;
  CHECK(selattn_session_create(model, &sp, &session) == SELATTN_OK);
  gp.max_tokens = 60;
  CHECK(selattn_generate(session, prompt, strlen(prompt), &gp, NULL, NULL, &r) == SELATTN_OK);
  for (int l = 0; l < selattn_model_n_layer(model); ++l) {
    int live = -1, b = -1;
    CHECK(selattn_session_kv_layer(session, l, &live, &b) == SELATTN_OK);
    CHECK(live == 8 && b == 8);
  }
  int live = 0, b = 0;
  CHECK(selattn_session_kv_layer(session, 99, &live, &b) == SELATTN_ERROR_INVALID_ARGUMENT);

  /* Saved, loaded and forked sessions go on with the same greedy text. */
  char path[512];
  snprintf(path, sizeof path, "%s/c_api_test_session.bin", argc > 5 ? argv[5] : ".");
  CHECK(selattn_session_save(session, path) == SELATTN_OK);
  selattn_session* loaded = NULL;
  selattn_session* forked = NULL;
  CHECK(selattn_session_load(model, path, &loaded) == SELATTN_OK && loaded != NULL);
  CHECK(selattn_session_fork(session, &forked) == SELATTN_OK && forked != NULL);
  struct collected c1, c2, c3;
  memset(&c1, 0, sizeof c1);
  memset(&c2, 0, sizeof c2);
  memset(&c3, 0, sizeof c3);
  gp.max_tokens = 10;
  CHECK(selattn_generate(session, NULL, 0, &gp, on_piece, &c1, NULL) == SELATTN_OK);
  CHECK(selattn_generate(loaded, NULL, 0, &gp, on_piece, &c2, NULL) == SELATTN_OK);
  CHECK(selattn_generate(forked, NULL, 0, &gp, on_piece, &c3, NULL) == SELATTN_OK);
  CHECK(c1.len > 0 && strcmp(c1.text, c2.text) == 0 && strcmp(c1.text, c3.text) == 0);
  selattn_session_free(loaded);
  selattn_session_free(forked);
  remove(path);
  CHECK(selattn_session_load(model, "/nonexistent/session.bin", &loaded) == SELATTN_ERROR_FAILED && loaded == NULL);
  CHECK(strstr(selattn_last_error(), "/nonexistent/session.bin") != NULL);
  const float* logits = NULL;
  CHECK(selattn_session_append(session, ids, 1, &logits) == SELATTN_OK && logits != NULL);
  CHECK(selattn_session_append(session, NULL, 1, &logits) == SELATTN_ERROR_INVALID_ARGUMENT);
  selattn_session_free(session);

  /* Bad session options are errors on the model handle. */
  sp = selattn_session_default_params();
  sp.kv_policy = "lru";
  CHECK(selattn_session_create(model, &sp, &session) == SELATTN_ERROR_FAILED);
  CHECK(session == NULL);
  CHECK(strstr(selattn_model_error(model), "lru") != NULL);

  /* A chat: turns append to one cache; under a budget it stays at 8 a layer. */
  selattn_chat_params cp = selattn_chat_default_params();
  cp.system = "A keeper of lights answers.";
  cp.session.kv_policy = "selective";
  cp.session.kv_budgets = budget;
  cp.session.n_kv_budgets = 1;
  cp.generate.max_tokens = 6;
  cp.generate.temperature = 0.0f;
  selattn_chat* chat = NULL;
  CHECK(selattn_chat_create(model, &cp, &chat) == SELATTN_OK && chat != NULL);
  memset(&c, 0, sizeof c);
  CHECK(selattn_chat_send(chat, "Where is the light?", 19, on_piece, &c, &r) == SELATTN_OK);
  CHECK(selattn_chat_send(chat, "And the sea?", 12, NULL, NULL, &r) == SELATTN_OK);
  CHECK(selattn_chat_n_turns(chat) == 4);
  CHECK(selattn_chat_kv_stats(chat, &st) == SELATTN_OK && st.live == 8 * selattn_model_n_layer(model));
  snprintf(path, sizeof path, "%s/c_api_test_chat.bin", argc > 5 ? argv[5] : ".");
  CHECK(selattn_chat_save(chat, path) == SELATTN_OK);
  CHECK(selattn_chat_reset(chat) == SELATTN_OK && selattn_chat_n_turns(chat) == 0);
  CHECK(selattn_chat_load(chat, path) == SELATTN_OK && selattn_chat_n_turns(chat) == 4);
  CHECK(selattn_chat_load(chat, "/nonexistent/chat.bin") == SELATTN_ERROR_FAILED);
  CHECK(strstr(selattn_chat_error(chat), "/nonexistent/chat.bin") != NULL);
  CHECK(selattn_chat_n_turns(chat) == 4); /* a failed load leaves it as it was */
  selattn_chat_free(chat);
  remove(path);
  {
    char turns[600];
    snprintf(turns, sizeof turns, "%s.turns", path);
    remove(turns);
  }

  selattn_model_free(model);
  if (failures == 0) printf("c_api_test: all checks passed\n");
  return failures == 0 ? 0 : 1;
}
