//! A cap on the instruction set of oneDNN, the CPU convolution library
//! inside libtorch.
//!
//! NOTE: libtorch 2.11.0's oneDNN crashes (SIGSEGV, or a heap corruption
//! reported by `free()`) in its AVX-512 1x1-convolution weight-gradient
//! kernel (`jit_avx512_common_1x1_convolution_bwd_weights`) when training the
//! ImageNet network on an AVX-512 CPU. Capping oneDNN at AVX2 avoids that
//! kernel. It cost 7 % of training throughput (150 to 141 images/s) for
//! CIFAR-10 16 x 8 at batch 64 on a 2-core AVX-512 VM.

/// Environment variable that oneDNN reads once, before its first primitive.
pub const MAX_CPU_ISA_VARIABLE: &str = "ONEDNN_MAX_CPU_ISA";

/// Maximum instruction set that [`cap_cpu_isa`] lets oneDNN use.
pub const SAFE_MAX_CPU_ISA: &str = "AVX2";

/// Caps oneDNN at AVX2 unless `ONEDNN_MAX_CPU_ISA` is already set, which
/// leaves the choice to the user. It takes effect only when called before the
/// process's first libtorch convolution, so every training entry point calls
/// it first. Later calls change nothing.
///
/// NOTE: setting a variable while other threads read the environment is a
/// data race in C, so call this before starting libtorch threads where you
/// can. `train` calls it first thing in `main`, and cargo's test and bench
/// processes start with the variable set (`.cargo/config.toml`).
pub fn cap_cpu_isa() {
    if std::env::var_os(MAX_CPU_ISA_VARIABLE).is_none() {
        std::env::set_var(MAX_CPU_ISA_VARIABLE, SAFE_MAX_CPU_ISA);
    }
}
