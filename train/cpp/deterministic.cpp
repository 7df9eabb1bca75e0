// libtorch's deterministic mode, which tch 0.24 does not bind. build.rs
// compiles this file against the headers of the libtorch that torch-sys links.

#include <ATen/Context.h>

extern "C" {

// Makes libtorch use deterministic algorithms (and raise an error for an
// operation that has none), selects deterministic cuDNN convolutions and
// turns off cuDNN benchmarking, as `torch.use_deterministic_algorithms(True)`,
// `torch.backends.cudnn.deterministic = True` and
// `torch.backends.cudnn.benchmark = False` do in Python. Returns 0 on success
// and 1 when libtorch raised an exception.
int sharpdarts_enable_deterministic_algorithms() {
  try {
    at::Context& context = at::globalContext();
    context.setDeterministicAlgorithms(true, /*warn_only=*/false);
    context.setDeterministicCuDNN(true);
    context.setBenchmarkCuDNN(false);
    return 0;
  } catch (...) {
    return 1;
  }
}

// Returns 1 when libtorch's deterministic-algorithms flag is set, else 0.
int sharpdarts_deterministic_algorithms() {
  return at::globalContext().deterministicAlgorithms() ? 1 : 0;
}

}  // extern "C"
