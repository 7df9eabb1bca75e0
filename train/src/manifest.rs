//! `manifest.json`: how and with what software a run was started, written
//! into every run folder of `train final` and `train search` before the
//! first epoch.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use models::io::write_atomic;
use serde::{Deserialize, Serialize};
use tch::Device;

use crate::TrainError;

/// File name of the manifest in a run folder.
pub const MANIFEST_FILE: &str = "manifest.json";

/// Contents of `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Arguments of the process that started the run, program path first.
    pub command_line: Vec<String>,
    /// The resolved settings, as in the run's `config.json`.
    pub options: serde_json::Value,
    /// Version of the `train` crate.
    pub crate_version: String,
    /// Commit checked out where the binary was built; `null` when unknown.
    pub git_revision: Option<String>,
    pub tch_version: String,
    /// Version of the libtorch loaded at run time, else the one built against.
    pub libtorch_version: String,
    /// Version of the ONNX Runtime library in the workspace's `.venv`, which
    /// `serve` uses; `null` when none is found.
    pub onnxruntime_version: Option<String>,
    /// Device the run trains on: `cpu` or `cuda:N`.
    pub device: String,
    /// `ONEDNN_MAX_CPU_ISA` as the run started: the cap on libtorch's CPU
    /// convolution kernels (`AVX2` unless the user set another).
    #[serde(default)]
    pub onednn_max_cpu_isa: Option<String>,
    pub seed: u64,
    /// Whether libtorch's deterministic-algorithms flag was set when the run started.
    pub deterministic: bool,
    /// Start time in RFC 3339, UTC.
    pub started_at: String,
    /// Start time of every `--resume` of the run, in RFC 3339, UTC.
    #[serde(default)]
    pub resumed_at: Vec<String>,
}

impl Manifest {
    /// Describes a run that starts now in this process with `options` (the
    /// contents of its `config.json`).
    pub fn new(
        options: serde_json::Value,
        device: Device,
        seed: u64,
        deterministic: bool,
    ) -> Manifest {
        Manifest {
            command_line: std::env::args_os()
                .map(|arg| arg.to_string_lossy().into_owned())
                .collect(),
            options,
            crate_version: env!("CARGO_PKG_VERSION").to_string(),
            git_revision: git_revision(),
            tch_version: env!("TRAIN_TCH_VERSION").to_string(),
            libtorch_version: libtorch_version(),
            onnxruntime_version: onnxruntime_version(),
            device: device_name(device),
            onednn_max_cpu_isa: std::env::var(crate::onednn::MAX_CPU_ISA_VARIABLE).ok(),
            seed,
            deterministic,
            started_at: rfc3339_utc(SystemTime::now()),
            resumed_at: Vec::new(),
        }
    }

    /// Writes `dir/manifest.json` atomically.
    pub fn write(&self, dir: &Path) -> Result<(), TrainError> {
        let path = dir.join(MANIFEST_FILE);
        let text = serde_json::to_string_pretty(self).expect("a manifest always serialises");
        write_atomic(&path, text.as_bytes()).map_err(|source| TrainError::Write {
            path: path.display().to_string(),
            source,
        })
    }

    /// Adds the current time to `resumed_at` of `dir/manifest.json`. A run
    /// stopped before its manifest was written gets `started` with the time
    /// recorded as a resume.
    pub fn record_resume(dir: &Path, started: impl FnOnce() -> Manifest) -> Result<(), TrainError> {
        let path = dir.join(MANIFEST_FILE);
        let mut manifest = match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str::<Manifest>(&text).map_err(|error| {
                TrainError::InvalidRunFolder {
                    path: dir.display().to_string(),
                    message: format!("{} is not a run manifest: {error}", path.display()),
                }
            })?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => started(),
            Err(source) => {
                return Err(TrainError::Read {
                    path: path.display().to_string(),
                    source,
                })
            }
        };
        manifest.resumed_at.push(rfc3339_utc(SystemTime::now()));
        manifest.write(dir)
    }
}

/// Returns `cpu` or `cuda:N`.
pub fn device_name(device: Device) -> String {
    match device {
        Device::Cpu => "cpu".to_string(),
        Device::Cuda(index) => format!("cuda:{index}"),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// Returns the commit that build.rs read from the workspace's `.git`, else
/// the output of `git rev-parse HEAD` in that folder, else `None`.
fn git_revision() -> Option<String> {
    let built = env!("TRAIN_GIT_REVISION");
    if !built.is_empty() {
        return Some(built.to_string());
    }
    let output = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(env!("TRAIN_WORKSPACE_DIR"))
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    let revision = text.trim();
    (output.status.success() && !revision.is_empty()).then(|| revision.to_string())
}

/// Returns the version of the libtorch that the `train` launcher put first
/// on the library path (TRAIN_LIBTORCH_LIB), else the one built against.
pub fn libtorch_version() -> String {
    std::env::var_os("TRAIN_LIBTORCH_LIB")
        .and_then(|lib_dir| libtorch_version_in(Path::new(&lib_dir)))
        .unwrap_or_else(|| env!("TRAIN_LIBTORCH_VERSION").to_string())
}

/// Reads `__version__` from `<lib_dir>/../version.py`, the file the PyTorch
/// wheel ships beside its `lib/` folder.
pub fn libtorch_version_in(lib_dir: &Path) -> Option<String> {
    let path = lib_dir.parent()?.join("version.py");
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|line| {
        let (_, value) = line.strip_prefix("__version__")?.split_once('=')?;
        Some(value.trim().trim_matches(['\'', '"']).to_string())
    })
}

/// Returns the version in the file name of `libonnxruntime.so.X.Y.Z` in the
/// workspace's `.venv/onnxruntime` (set up by scripts/setup.sh), looked up
/// in the workspace this binary was built from, then relative to the
/// executable in `target/<profile>`.
fn onnxruntime_version() -> Option<String> {
    let mut folders = vec![PathBuf::from(env!("TRAIN_WORKSPACE_DIR")).join(".venv/onnxruntime")];
    if let Some(exe_dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
    {
        folders.push(exe_dir.join("../../.venv/onnxruntime"));
    }
    folders.iter().find_map(|folder| {
        std::fs::read_dir(folder).ok()?.find_map(|entry| {
            let name = entry.ok()?.file_name();
            onnxruntime_version_of(name.to_str()?)
        })
    })
}

/// Returns `X.Y.Z` for a file named `libonnxruntime.so.X.Y.Z`.
fn onnxruntime_version_of(file_name: &str) -> Option<String> {
    let version = file_name.strip_prefix("libonnxruntime.so.")?;
    let parts: Vec<&str> = version.split('.').collect();
    let numeric = parts
        .iter()
        .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
    (parts.len() == 3 && numeric).then(|| version.to_string())
}

/// Formats `time` as RFC 3339 in UTC with whole seconds, e.g. `2026-12-04T22:14:10Z`.
pub fn rfc3339_utc(time: SystemTime) -> String {
    let seconds = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let (days, second_of_day) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_date(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    )
}

/// Converts days since 1970-01-01 to a proleptic Gregorian (year, month, day).
fn civil_date(days: i64) -> (i64, u32, u32) {
    // Count from 0000-03-01, so that the leap day ends each 4-year cycle,
    // in 400-year eras of 146,097 days.
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    // Months counted from March: 0 is March, 11 is February.
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(seconds: u64) -> String {
        rfc3339_utc(SystemTime::UNIX_EPOCH + Duration::from_secs(seconds))
    }

    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        // Values from `date -u -d ... +%s`.
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_709_210_096), "2024-02-29T12:34:56Z");
        assert_eq!(at(4_107_542_399), "2100-02-28T23:59:59Z");
        assert_eq!(at(4_107_542_400), "2100-03-01T00:00:00Z");
    }

    #[test]
    fn onnxruntime_version_from_file_name() {
        assert_eq!(
            onnxruntime_version_of("libonnxruntime.so.1.31.1").as_deref(),
            Some("1.31.1")
        );
        for other in [
            "libonnxruntime.so",
            "libonnxruntime.so.1",
            "libonnxruntime_providers_shared.so",
            "libonnxruntime.so.1.31.x",
        ] {
            assert_eq!(onnxruntime_version_of(other), None, "{other}");
        }
    }

    #[test]
    fn manifest_round_trips_and_records_resumes() {
        let dir = tempfile::tempdir().unwrap();
        let options = serde_json::json!({"epochs": 3});
        let manifest = Manifest::new(options.clone(), Device::Cpu, 7, false);
        assert_eq!(manifest.device, "cpu");
        assert_eq!(manifest.crate_version, env!("CARGO_PKG_VERSION"));
        manifest.write(dir.path()).unwrap();
        Manifest::record_resume(dir.path(), || panic!("the manifest exists")).unwrap();

        let text = std::fs::read_to_string(dir.path().join(MANIFEST_FILE)).unwrap();
        let stored: Manifest = serde_json::from_str(&text).unwrap();
        assert_eq!(stored.options, options);
        assert_eq!(stored.seed, 7);
        assert_eq!(stored.started_at, manifest.started_at);
        assert_eq!(stored.resumed_at.len(), 1);
    }

    #[test]
    fn resume_without_manifest_writes_one() {
        let dir = tempfile::tempdir().unwrap();
        Manifest::record_resume(dir.path(), || {
            Manifest::new(serde_json::json!({}), Device::Cuda(1), 0, true)
        })
        .unwrap();
        let text = std::fs::read_to_string(dir.path().join(MANIFEST_FILE)).unwrap();
        let stored: Manifest = serde_json::from_str(&text).unwrap();
        assert_eq!(stored.device, "cuda:1");
        assert_eq!(stored.resumed_at.len(), 1);
    }
}
