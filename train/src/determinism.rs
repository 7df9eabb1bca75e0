//! libtorch's deterministic mode (`--deterministic`).
//!
//! tch 0.24 has no binding for `at::Context::setDeterministicAlgorithms`, so
//! build.rs compiles a small C++ function (cpp/deterministic.cpp) that calls
//! it. Together with a fixed seed and a fixed number of CPU threads, it is
//! meant to make two runs on one machine compute the same numbers.
//! tests/final_resume.rs checks that on the CPU with one thread.

use crate::TrainError;

/// cuBLAS setting that deterministic mode requires on CUDA 10.2 and later;
/// without it libtorch raises an error at the first cuBLAS matrix product.
const CUBLAS_WORKSPACE_CONFIG: &str = ":4096:8";

/// Makes libtorch use only deterministic algorithms: an operation without a
/// deterministic implementation then fails with a libtorch error instead of
/// running. Also selects deterministic cuDNN convolutions and turns off
/// cuDNN benchmarking.
///
/// NOTE: only the CPU path has been run. On CUDA, an operation of the network
/// may have no deterministic implementation, which would stop the run.
pub fn enable() -> Result<(), TrainError> {
    if is_enabled() {
        return Ok(());
    }
    binding::enable()?;
    tracing::info!("libtorch deterministic algorithms enabled");
    Ok(())
}

/// Returns whether libtorch's deterministic-algorithms flag is set.
pub fn is_enabled() -> bool {
    binding::is_enabled()
}

#[cfg(deterministic_binding)]
mod binding {
    use std::os::raw::c_int;

    use crate::TrainError;

    extern "C" {
        fn sharpdarts_enable_deterministic_algorithms() -> c_int;
        fn sharpdarts_deterministic_algorithms() -> c_int;
    }

    pub(super) fn enable() -> Result<(), TrainError> {
        // SAFETY: the function only sets flags of libtorch's global context
        // and catches every C++ exception.
        let status = unsafe { sharpdarts_enable_deterministic_algorithms() };
        if status != 0 || !is_enabled() {
            return Err(TrainError::DeterministicUnavailable(
                "libtorch rejected the setting".to_string(),
            ));
        }
        Ok(())
    }

    pub(super) fn is_enabled() -> bool {
        // SAFETY: the function only reads a flag of libtorch's global context.
        unsafe { sharpdarts_deterministic_algorithms() == 1 }
    }
}

#[cfg(not(deterministic_binding))]
mod binding {
    use crate::TrainError;

    pub(super) fn enable() -> Result<(), TrainError> {
        Err(TrainError::DeterministicUnavailable(
            "this build of train-engine found no libtorch headers, so it has no binding \
             for it; rebuild with LIBTORCH pointing at a libtorch with include/"
                .to_string(),
        ))
    }

    pub(super) fn is_enabled() -> bool {
        false
    }
}

/// Sets CUBLAS_WORKSPACE_CONFIG to `:4096:8` unless it is set already.
///
/// Call it before any other thread starts (libtorch's thread pools
/// included), because changing the environment races with threads that read it.
pub fn set_cublas_workspace_config() {
    if std::env::var_os("CUBLAS_WORKSPACE_CONFIG").is_none() {
        std::env::set_var("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE_CONFIG);
    }
}
