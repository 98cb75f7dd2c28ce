/* selattn — the C API: models, sessions, tokens, generation with a callback,
 * cancellation and KV statistics, usable from C99 and any language with a C FFI.
 *
 * Handles are opaque. Every call that can fail returns a selattn_status; the
 * message of the last failure is kept per handle (selattn_model_error,
 * selattn_session_error) and per thread (selattn_last_error, the only one
 * for calls that have no handle yet, such as selattn_model_load). No C++
 * exception crosses this boundary.
 *
 * Threads: a model may be shared by sessions on any threads; a session is
 * used by one thread at a time, except selattn_cancel, which any thread may
 * call. A model's error string is meant for single-threaded use; use
 * selattn_last_error when several threads share one model.
 */
#ifndef SELATTN_SELATTN_C_H
#define SELATTN_SELATTN_C_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define SELATTN_API
#else
#define SELATTN_API __attribute__((visibility("default")))
#endif

typedef enum selattn_status {
  SELATTN_OK = 0,
  SELATTN_ERROR_INVALID_ARGUMENT = 1, /* a null pointer, a size or option out of range */
  SELATTN_ERROR_FAILED = 2,           /* the library refused or failed: bad files, context full, memory limit */
  SELATTN_ERROR_OUT_OF_MEMORY = 3,
  SELATTN_ERROR_BUFFER_TOO_SMALL = 4 /* the output did not fit; the size it needs was written */
} selattn_status;

typedef struct selattn_model selattn_model;
typedef struct selattn_session selattn_session;

/* "0.1.0": the library's version. */
SELATTN_API const char* selattn_version(void);
/* The message of this thread's last failed call ("" when none). Valid until
 * this thread's next failing call. */
SELATTN_API const char* selattn_last_error(void);
SELATTN_API const char* selattn_status_name(selattn_status status);

/* ---- models ------------------------------------------------------------ */

typedef struct selattn_model_params {
  int n_threads;          /* worker threads; 0 = all cores */
  int kv_page_size;       /* token slots per KV page (16) */
  size_t kv_memory_limit; /* most bytes of KV pages, all sessions; 0 = no limit */
  const char* weights;    /* "file" (as stored), "f32", "f16", "bf16" or "q8" */
  const char* kv_type;    /* "f32" or "f16" */
  const char* device;     /* "cpu" or "cuda" (NULL: "cpu") */
} selattn_model_params;

SELATTN_API selattn_model_params selattn_model_default_params(void);

/* Loads a Hugging Face GPT-2 folder (config.json, model.safetensors, and the
 * tokenizer files, which text calls need). params may be NULL for defaults.
 * On failure *out is NULL and selattn_last_error() says why. */
SELATTN_API selattn_status selattn_model_load(const char* dir, const selattn_model_params* params, selattn_model** out);
SELATTN_API void selattn_model_free(selattn_model* model); /* NULL is fine; sessions keep what they need */
SELATTN_API const char* selattn_model_error(const selattn_model* model);

SELATTN_API int selattn_model_n_layer(const selattn_model* model);
SELATTN_API int selattn_model_n_positions(const selattn_model* model);
SELATTN_API int selattn_model_vocab_size(const selattn_model* model);
SELATTN_API int selattn_model_has_tokenizer(const selattn_model* model);

/* Text to ids. Writes at most capacity ids and sets *n_ids to the count the
 * text needs (SELATTN_ERROR_BUFFER_TOO_SMALL when it is more than capacity).
 * allow_special: special tokens written in the text become their ids.
 * Invalid UTF-8 is an error naming the byte offset. */
SELATTN_API selattn_status selattn_tokenize(selattn_model* model, const char* text, size_t text_len, int allow_special,
                                            int32_t* ids, size_t capacity, size_t* n_ids);
/* Ids to text (the bytes the tokens stand for, not NUL-terminated). Writes at
 * most capacity bytes and sets *n_bytes to the length the text needs. */
SELATTN_API selattn_status selattn_detokenize(selattn_model* model, const int32_t* ids, size_t n_ids, char* text,
                                              size_t capacity, size_t* n_bytes);

/* ---- sessions ---------------------------------------------------------- */

typedef struct selattn_session_params {
  int n_ctx;             /* positions; 0 = the model's n_positions */
  int n_batch;           /* tokens per forward pass when appending many (256) */
  const char* kv_policy; /* "none", "selective", "h2o" or "streaming" */
  const int* kv_budgets; /* live tokens per layer: 1 value for all layers or one per layer; NULL = none */
  size_t n_kv_budgets;
  int kv_recent; /* h2o: recent window (-1 = half the budget) */
  int kv_sinks;  /* streaming: first tokens kept (4) */
} selattn_session_params;

SELATTN_API selattn_session_params selattn_session_default_params(void);
SELATTN_API selattn_status selattn_session_create(selattn_model* model, const selattn_session_params* params,
                                                  selattn_session** out);
SELATTN_API void selattn_session_free(selattn_session* session);
SELATTN_API const char* selattn_session_error(const selattn_session* session);

/* Runs ids through the model after those already appended. *logits (when
 * logits is not NULL) points at the last token's vocab_size logits, valid
 * until the next call on this session. */
SELATTN_API selattn_status selattn_session_append(selattn_session* session, const int32_t* ids, size_t n_ids,
                                                  const float** logits);
SELATTN_API selattn_status selattn_session_reset(selattn_session* session);

/* Saving and copying sessions (the K/V, positions, selection scores and
 * eviction history of every live token). save writes beside the file and
 * renames it into place; load checks the file against the model (shape,
 * weights format, a fingerprint of the weights) and its checksum; fork gives
 * an independent copy. On failure *out is NULL. */
SELATTN_API selattn_status selattn_session_save(const selattn_session* session, const char* path);
SELATTN_API selattn_status selattn_session_load(selattn_model* model, const char* path, selattn_session** out);
SELATTN_API selattn_status selattn_session_fork(const selattn_session* session, selattn_session** out);
SELATTN_API int selattn_session_n_past(const selattn_session* session);

/* ---- generation -------------------------------------------------------- */

typedef struct selattn_generate_params {
  int max_tokens;          /* tokens to sample (128) */
  float temperature;       /* 0 = greedy (0.8) */
  int top_k;               /* 0 = off (40) */
  float top_p;             /* 1 = off (0.95) */
  float min_p;             /* 0 = off (0.05) */
  float repeat_penalty;    /* 1 = off */
  int repeat_last_n;       /* (64) */
  uint64_t seed;           /* same seed, same text (0) */
  const char* const* stop; /* stop strings (NULL-free array of n_stop) */
  size_t n_stop;
  int ignore_eos; /* nonzero: go on past end of text */
} selattn_generate_params;

typedef enum selattn_stop_reason {
  SELATTN_STOP_LENGTH = 0,
  SELATTN_STOP_END_OF_TEXT = 1,
  SELATTN_STOP_STRING = 2,
  SELATTN_STOP_CONTEXT_FULL = 3,
  SELATTN_STOP_CANCELLED = 4,
  SELATTN_STOP_CALLBACK = 5
} selattn_stop_reason;

typedef struct selattn_generate_result {
  selattn_stop_reason reason;
  int n_tokens; /* sampled and appended */
  int prompt_tokens;
  double prompt_seconds;
  double generate_seconds;
} selattn_generate_result;

/* Receives each piece of text as it becomes final (never a cut UTF-8
 * character, never a possible stop string; not NUL-terminated). Return
 * nonzero to go on, 0 to stop. */
typedef int (*selattn_token_callback)(const char* piece, size_t len, void* user_data);

SELATTN_API selattn_generate_params selattn_generate_default_params(void);
/* Appends the prompt (UTF-8; a session that holds nothing starts with BOS)
 * and samples up to params->max_tokens tokens, streaming their text to
 * callback (may be NULL). result may be NULL. */
SELATTN_API selattn_status selattn_generate(selattn_session* session, const char* prompt, size_t prompt_len,
                                            const selattn_generate_params* params, selattn_token_callback callback,
                                            void* user_data, selattn_generate_result* result);
/* Ends a selattn_generate running on another thread before its next token.
 * Any thread may call it; without a generation running it does nothing. */
SELATTN_API void selattn_cancel(selattn_session* session);

/* ---- KV cache statistics ----------------------------------------------- */

typedef struct selattn_kv_stats {
  int n_past;           /* positions appended */
  int n_ctx;            /* N */
  int64_t live;         /* tokens held, all layers */
  int64_t budget_sum;   /* sum over layers of the budget (L x N when unlimited) */
  int64_t full_context; /* L x N */
  int pages;            /* pages held */
  size_t kv_bytes;      /* K and V bytes of the pages held */
  size_t meta_bytes;    /* per-slot metadata */
  size_t peak_kv_bytes;
} selattn_kv_stats;

SELATTN_API selattn_status selattn_session_kv_stats(const selattn_session* session, selattn_kv_stats* out);
/* Live tokens and budget (0 = none) of one layer. */
SELATTN_API selattn_status selattn_session_kv_layer(const selattn_session* session, int layer, int* live, int* budget);

/* ---- chat --------------------------------------------------------------- */

/* A conversation: each turn appends only its own tokens to the live cache
 * (see the README's "Conversations"); under a KV budget its memory stays flat. */
typedef struct selattn_chat selattn_chat;

typedef struct selattn_chat_params {
  const char* system;               /* optional system message (NULL: none) */
  selattn_session_params session;   /* context, KV policy and budgets */
  selattn_generate_params generate; /* sampling and the most tokens a reply may have */
  int use_model_template;           /* nonzero: the folder's chat_template when it has one (1) */
} selattn_chat_params;

SELATTN_API selattn_chat_params selattn_chat_default_params(void);
SELATTN_API selattn_status selattn_chat_create(selattn_model* model, const selattn_chat_params* params,
                                               selattn_chat** out);
SELATTN_API void selattn_chat_free(selattn_chat* chat);
SELATTN_API const char* selattn_chat_error(const selattn_chat* chat);
/* Adds the user's turn and generates the reply, streamed to callback. */
SELATTN_API selattn_status selattn_chat_send(selattn_chat* chat, const char* text, size_t text_len,
                                             selattn_token_callback callback, void* user_data,
                                             selattn_generate_result* result);
SELATTN_API void selattn_chat_cancel(selattn_chat* chat); /* any thread */
SELATTN_API selattn_status selattn_chat_reset(selattn_chat* chat);
SELATTN_API selattn_status selattn_chat_save(const selattn_chat* chat, const char* path);
SELATTN_API selattn_status selattn_chat_load(selattn_chat* chat, const char* path);
SELATTN_API int selattn_chat_n_turns(const selattn_chat* chat);
SELATTN_API selattn_status selattn_chat_kv_stats(const selattn_chat* chat, selattn_kv_stats* out);

#ifdef __cplusplus
}
#endif

#endif /* SELATTN_SELATTN_C_H */
