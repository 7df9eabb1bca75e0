//! The `train report` command: arguments, output files and printing.

use std::path::{Path, PathBuf};

use models::io::write_atomic;

use crate::aggregate::test_split_name;
use crate::plots::{learning_curves_svg, lr_schedule_svg};
use crate::{build_report, load_runs, render_markdown, Report, ReportError, TrainingRun};

pub const REPORT_MARKDOWN_FILE: &str = "report.md";
pub const REPORT_JSON_FILE: &str = "report.json";
pub const LEARNING_CURVES_FILE: &str = "learning_curves.svg";
pub const LR_SCHEDULE_FILE: &str = "lr_schedule.svg";

/// Arguments of `train report`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// Run folders written by `train final`, typically one per seed of one
    /// genotype and network size.
    #[arg(value_name = "RUN_DIR", required = true)]
    pub run_dirs: Vec<PathBuf>,
    /// Also write report.md, report.json, learning_curves.svg and
    /// lr_schedule.svg into DIR, which is created when missing; report files
    /// already there are replaced. Without --out nothing is written.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print report.json to standard output instead of the Markdown report.
    #[arg(long)]
    pub json: bool,
    /// Report runs of different genotypes, network sizes, test sets or
    /// parameter counts together instead of rejecting them.
    #[arg(long)]
    pub allow_mixed: bool,
}

/// Runs `train report`: prints the report (Markdown, or report.json with
/// `--json`) to standard output, and writes the four report files when
/// `--out` is given.
pub fn run(args: &ReportArgs) -> anyhow::Result<()> {
    let runs = load_runs(&args.run_dirs)?;
    let report = build_report(&runs, args.allow_mixed)?;
    if let Some(out) = &args.out {
        write_report(&report, &runs, out)?;
        tracing::info!(folder = %out.display(), "wrote {REPORT_MARKDOWN_FILE}, {REPORT_JSON_FILE}, {LEARNING_CURVES_FILE} and {LR_SCHEDULE_FILE}");
    }
    let text = if args.json {
        report_json(&report)
    } else {
        render_markdown(&report)
    };
    print!("{text}");
    Ok(())
}

/// Writes report.md, report.json, learning_curves.svg and lr_schedule.svg
/// into `out`, creating the folder when missing. Every file is drawn before
/// the first is written, and each is written atomically. Returns their paths.
pub fn write_report(
    report: &Report,
    runs: &[TrainingRun],
    out: &Path,
) -> Result<Vec<PathBuf>, ReportError> {
    if out.exists() && !out.is_dir() {
        return Err(ReportError::OutNotFolder {
            path: out.display().to_string(),
        });
    }
    let plot_error = |name: &str| {
        let path = out.join(name);
        move |message| ReportError::Plot {
            path: path.display().to_string(),
            message,
        }
    };
    let split = test_split_name(report.setting.dataset);
    let files = [
        (REPORT_MARKDOWN_FILE, render_markdown(report)),
        (REPORT_JSON_FILE, report_json(report)),
        (
            LEARNING_CURVES_FILE,
            learning_curves_svg(runs, split).map_err(plot_error(LEARNING_CURVES_FILE))?,
        ),
        (
            LR_SCHEDULE_FILE,
            lr_schedule_svg(runs).map_err(plot_error(LR_SCHEDULE_FILE))?,
        ),
    ];
    std::fs::create_dir_all(out).map_err(|e| ReportError::write(out, e))?;
    let mut written = Vec::with_capacity(files.len());
    for (name, text) in files {
        let path = out.join(name);
        write_atomic(&path, text.as_bytes()).map_err(|e| ReportError::write(&path, e))?;
        written.push(path);
    }
    Ok(written)
}

fn report_json(report: &Report) -> String {
    let mut text = serde_json::to_string_pretty(report).expect("a report always serialises");
    text.push('\n');
    text
}
