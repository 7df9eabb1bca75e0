//! Execution providers and thread defaults of the loaded ONNX Runtime.

use std::collections::BTreeSet;
use std::ffi::{c_char, c_int, CStr};
use std::ptr;

use ort::ep::ExecutionProvider;
use ort::session::builder::SessionBuilder;
use ort::session::Session;

use super::Runtime;
use crate::error::{Result, ServeError};

/// Lists the execution providers compiled into the loaded ONNX Runtime
/// library (`GetAvailableProviders`), such as `CPUExecutionProvider`.
/// Compiled in does not mean usable: see [`cuda_status`].
pub fn available_providers(_runtime: &Runtime) -> Result<Vec<String>, String> {
    let api = ort::api();
    let mut names: *mut *mut c_char = ptr::null_mut();
    let mut count: c_int = 0;
    // SAFETY: both out-pointers are valid; on success ONNX Runtime fills them
    // with `count` NUL-terminated strings that are released below.
    let status = unsafe { (api.GetAvailableProviders)(&mut names, &mut count) };
    check_status(status)?;
    if names.is_null() {
        return Ok(Vec::new());
    }
    let providers = (0..count as usize)
        // SAFETY: `names` contains `count` valid string pointers.
        .map(|i| unsafe { CStr::from_ptr(*names.add(i)) })
        .map(|name| name.to_string_lossy().into_owned())
        .collect();
    // SAFETY: `names` and `count` are exactly what GetAvailableProviders returned.
    let status = unsafe { (api.ReleaseAvailableProviders)(names, count) };
    check_status(status)?;
    Ok(providers)
}

/// Converts an `OrtStatus` into its error message, releasing it.
fn check_status(status: ort::sys::OrtStatusPtr) -> Result<(), String> {
    if status.0.is_null() {
        return Ok(());
    }
    let api = ort::api();
    // SAFETY: `status` is a non-null status returned by ONNX Runtime; its
    // message is copied before the status is released.
    let message = unsafe { CStr::from_ptr((api.GetErrorMessage)(status.0)) }
        .to_string_lossy()
        .into_owned();
    // SAFETY: `status` is non-null and not used after this call.
    unsafe { (api.ReleaseStatus)(status.0) };
    Err(message)
}

/// Checks whether the CUDA execution provider can be registered on a session:
/// it must be compiled into the library and its CUDA libraries must load.
/// Returns the reason when it cannot.
pub fn cuda_status(runtime: &Runtime) -> Result<()> {
    let builder =
        Session::builder(runtime.environment()).map_err(|e| ServeError::CudaUnavailable {
            reason: e.to_string(),
        })?;
    with_cuda(runtime, builder).map(drop)
}

/// Registers the CUDA execution provider on `builder`, failing instead of
/// falling back to the CPU when CUDA is missing.
pub(crate) fn with_cuda(runtime: &Runtime, builder: SessionBuilder) -> Result<SessionBuilder> {
    let unavailable = |reason: String| ServeError::CudaUnavailable { reason };
    let compiled_in = ort::ep::CUDA::is_available().map_err(|e| unavailable(e.to_string()))?;
    if !compiled_in {
        return Err(unavailable(format!(
            "ONNX Runtime {} at {} was built without CUDAExecutionProvider",
            runtime.version,
            runtime.library.display()
        )));
    }
    let cuda = ort::ep::CUDA::default().build().error_on_failure();
    builder
        .with_execution_providers([cuda])
        .map_err(|e| unavailable(e.to_string()))
}

/// Number of physical CPU cores, from the distinct (package, core) pairs in
/// /proc/cpuinfo; `None` where that file is missing or lists no core ids.
pub fn physical_cores() -> Option<usize> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let mut cores = BTreeSet::new();
    let mut package = None;
    for line in cpuinfo.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        match key.trim() {
            "physical id" => package = Some(value.trim().to_owned()),
            "core id" => {
                cores.insert((package.clone(), value.trim().to_owned()));
            }
            _ => {}
        }
    }
    (!cores.is_empty()).then_some(cores.len())
}

/// Estimates the intra-op thread count that ONNX Runtime uses when
/// `--threads` is not given: one per physical core, as the ONNX Runtime
/// thread management docs state for `intra_op_num_threads = 0`. Falls back to
/// the logical CPU count when physical cores are unknown.
///
/// NOTE: ONNX Runtime counts the cores itself, so under a restricted CPU
/// affinity or cgroup its number may differ from this estimate.
pub fn default_intra_threads() -> usize {
    physical_cores()
        .or_else(|| std::thread::available_parallelism().ok().map(usize::from))
        .unwrap_or(1)
}
