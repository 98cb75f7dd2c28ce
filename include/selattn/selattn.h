// selattn — the public C++ API in one include.
#pragma once

#include "selattn/batch.h"
#include "selattn/calibrate.h"
#include "selattn/chat.h"
#include "selattn/config.h"
#include "selattn/error.h"
#include "selattn/eval.h"
#include "selattn/kv.h"
#include "selattn/log.h"
#include "selattn/model.h"
#include "selattn/perplexity.h"
#include "selattn/sampling.h"
#include "selattn/tokenizer.h"
