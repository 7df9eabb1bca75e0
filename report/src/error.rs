use std::path::Path;

/// Errors from reading run folders, aggregating them and writing the report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("no run folder given. Pass at least one folder written by `train final`")]
    NoRuns,
    #[error("run folder {path} not found. Pass a folder written by `train final`")]
    FolderNotFound { path: String },
    #[error("{path} is not a folder. Pass a run folder written by `train final`")]
    NotAFolder { path: String },
    #[error(
        "{path} is not a `train final` run folder: {missing} missing \
         (a run folder contains config.json, model.json, metrics.jsonl and result.json)"
    )]
    NotATrainingRun { path: String, missing: String },
    #[error(
        "run folder {path} has no finished epoch ({detail}). \
         Leave it out, or wait until its first epoch finishes"
    )]
    NoFinishedEpoch { path: String, detail: String },
    #[error("run folder {path} is given more than once. List each run once")]
    DuplicateRun { path: String },
    #[error(
        "the runs differ in {differences}. Report them separately, or pass \
         --allow-mixed to report them together"
    )]
    MixedRuns { differences: String },
    #[error("failed to read {path}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid {path}: {message}")]
    InvalidFile { path: String, message: String },
    #[error("invalid --out {path}: it exists and is not a folder. Pass a folder path")]
    OutNotFolder { path: String },
    #[error("failed to write {path}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("failed to draw {path}: {message}")]
    Plot { path: String, message: String },
}

impl ReportError {
    pub(crate) fn invalid(path: &Path, message: impl ToString) -> ReportError {
        ReportError::InvalidFile {
            path: path.display().to_string(),
            message: message.to_string(),
        }
    }

    pub(crate) fn read(path: &Path, source: std::io::Error) -> ReportError {
        ReportError::Read {
            path: path.display().to_string(),
            source,
        }
    }

    pub(crate) fn write(path: &Path, source: std::io::Error) -> ReportError {
        ReportError::Write {
            path: path.display().to_string(),
            source,
        }
    }
}
