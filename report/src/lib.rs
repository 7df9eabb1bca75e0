//! Aggregates `train final` run folders, typically one per seed of one
//! setting, into a report for `train report`. The report gives the mean,
//! sample standard deviation, minimum and maximum of the best and final test
//! accuracies (CIFAR-10, and CIFAR-10.1 when the runs have it), the parameter
//! and multiply-add counts, the training time and a per-run table. It also
//! draws SVG plots of the learning curves and the learning-rate schedule.
//! The crate links no libtorch.

mod aggregate;
mod cli;
mod error;
mod markdown;
mod plots;
mod run_folder;

pub use aggregate::{
    build_report, Difference, Report, RunRow, Setting, Summary, REPORT_FORMAT_VERSION,
};
pub use cli::{
    run, write_report, ReportArgs, LEARNING_CURVES_FILE, LR_SCHEDULE_FILE, REPORT_JSON_FILE,
    REPORT_MARKDOWN_FILE,
};
pub use error::ReportError;
pub use markdown::render_markdown;
pub use plots::{learning_curves_svg, lr_schedule_svg, series_color_hex};
pub use run_folder::{
    load_runs, EpochMetrics, Manifest, RunConfig, RunResult, TrainingRun, CONFIG_FILE,
    MANIFEST_FILE, METRICS_FILE, MODEL_FILE, RESULT_FILE,
};
