// A build without CUDA: asking for the CUDA backend is a clear error.
#include "backend/backend.h"
#include "core/check.h"

namespace selattn {

bool cuda_built() { return false; }

std::unique_ptr<Backend> make_cuda_backend(int) {
  fail("device cuda: this build of selattn has no CUDA backend (configure with nvcc on the PATH, or "
       "-DSELATTN_CUDA=ON, to build it)");
}

}  // namespace selattn
