// The autocast type of CUDA operations, which tch 0.24 cannot set (its
// `tch::autocast` uses libtorch's default, float16). build.rs compiles this
// file against the headers of the libtorch that torch-sys links.

#include <ATen/autocast_mode.h>

extern "C" {

// Makes autocast run CUDA operations in bfloat16 when `bfloat16` is 1 and in
// float16 otherwise, as `torch.autocast("cuda", dtype=...)` does in Python.
// Returns 0 on success and 1 when libtorch raised an exception.
int sharpdarts_set_autocast_cuda_dtype(int bfloat16) {
  try {
    at::autocast::set_autocast_dtype(at::kCUDA, bfloat16 ? at::kBFloat16 : at::kHalf);
    return 0;
  } catch (...) {
    return 1;
  }
}

}  // extern "C"
