// selattn — the public C++ API in one include.
#pragma once

#include "selattn/config.h"
#include "selattn/error.h"
#include "selattn/log.h"
#include "selattn/model.h"
