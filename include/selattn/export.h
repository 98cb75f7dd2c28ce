// What libselattn exports. A shared build hides everything else (its
// internals), so an app links against the API and nothing more.
#pragma once

#if defined(_WIN32)
#define SELATTN_EXPORT
#else
#define SELATTN_EXPORT __attribute__((visibility("default")))
#endif
