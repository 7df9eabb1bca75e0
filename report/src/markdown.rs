//! The Markdown form of a report: the setting, the statistics table and the
//! per-run table.

use std::fmt::Write;

use models::DatasetKind;

use crate::aggregate::{describe_network, label_with_name, test_split_name};
use crate::{Report, RunRow, Summary};

/// Writes `report` as Markdown. Accuracies have two decimals, seconds one.
pub fn render_markdown(report: &Report) -> String {
    let mut text = String::new();
    write_setting(&mut text, report);
    write_differences(&mut text, report);
    write_statistics(&mut text, report);
    write_runs(&mut text, report);
    text
}

fn write_setting(text: &mut String, report: &Report) {
    let setting = &report.setting;
    let genotype = label_with_name(&setting.genotype, setting.genotype_name.as_deref());
    let runs = plural(report.runs, "run", "runs");
    writeln!(text, "# Training report: {genotype}, {runs}\n").unwrap();
    let mixed_note = if report.mixed.is_empty() {
        ""
    } else {
        " (of the first run, because the runs differ as listed below)"
    };
    writeln!(text, "| setting | value{mixed_note} |").unwrap();
    writeln!(text, "| --- | --- |").unwrap();
    writeln!(text, "| genotype | {} |", cell(&genotype)).unwrap();
    writeln!(text, "| network | {} |", describe_network(&setting.network)).unwrap();
    writeln!(
        text,
        "| data set | {} in {}: {} training images, {} test images |",
        dataset_name(setting.dataset),
        cell(&format!("`{}`", setting.data_dir.display())),
        thousands(setting.train_images as u64),
        thousands(setting.test_images as u64)
    )
    .unwrap();
    writeln!(text, "| epochs planned | {} |", setting.epochs_planned).unwrap();
    write_counts(text, report);
    text.push('\n');
    write_unfinished_note(text, report);
}

fn write_counts(text: &mut String, report: &Report) {
    match (report.params, report.params_with_auxiliary, report.macs) {
        (Some(params), Some(with_auxiliary), Some(macs)) => {
            writeln!(
                text,
                "| parameters | {} ({} with the auxiliary head) |",
                thousands(params as u64),
                thousands(with_auxiliary as u64)
            )
            .unwrap();
            writeln!(text, "| multiply-adds | {} per image |", thousands(macs)).unwrap();
        }
        _ => {
            writeln!(
                text,
                "| parameters | differ between runs, see the runs table |"
            )
            .unwrap();
            writeln!(text, "| multiply-adds | differ between runs |").unwrap();
        }
    }
}

fn write_unfinished_note(text: &mut String, report: &Report) {
    if report.unfinished_runs > 0 {
        writeln!(
            text,
            "{} of {} stopped before the last planned epoch and {} included. \
             The final accuracy of an unfinished run is that of its last finished epoch.\n",
            report.unfinished_runs,
            plural(report.runs, "run", "runs"),
            if report.unfinished_runs == 1 {
                "is"
            } else {
                "are"
            }
        )
        .unwrap();
    }
}

fn write_differences(text: &mut String, report: &Report) {
    if !report.mixed.is_empty() {
        writeln!(text, "## Mixed runs\n").unwrap();
        writeln!(
            text,
            "`--allow-mixed` was given: the statistics below average over runs that differ in:\n"
        )
        .unwrap();
        write_difference_list(text, report, &report.mixed);
    }
    if !report.other_differences.is_empty() {
        writeln!(text, "## Other settings that differ\n").unwrap();
        write_difference_list(text, report, &report.other_differences);
    }
}

fn write_difference_list(text: &mut String, report: &Report, differences: &[crate::Difference]) {
    for difference in differences {
        let values: Vec<String> = report
            .per_run
            .iter()
            .zip(&difference.values)
            .map(|(row, value)| format!("`{}`: {value}", row.folder))
            .collect();
        writeln!(text, "- {}: {}", difference.setting, values.join("; ")).unwrap();
    }
    text.push('\n');
}

fn write_statistics(text: &mut String, report: &Report) {
    let split = test_split_name(report.setting.dataset);
    writeln!(
        text,
        "## Results over {}\n",
        plural(report.runs, "run", "runs")
    )
    .unwrap();
    writeln!(
        text,
        "Accuracies are top-1 percentages. std is the sample standard deviation \
         (divisor n - 1), empty for a single run.\n"
    )
    .unwrap();

    writeln!(text, "| metric | runs | mean | std | min | max |").unwrap();
    writeln!(text, "| --- | ---: | ---: | ---: | ---: | ---: |").unwrap();
    let rows = [
        (
            format!("best {split} accuracy (%)"),
            Some(&report.best_test_accuracy),
        ),
        (
            format!("final {split} accuracy (%)"),
            Some(&report.final_test_accuracy),
        ),
        (
            "best CIFAR-10.1 accuracy (%)".to_string(),
            report.best_cifar10_1_accuracy.as_ref(),
        ),
        (
            "final CIFAR-10.1 accuracy (%)".to_string(),
            report.final_cifar10_1_accuracy.as_ref(),
        ),
    ];
    for (name, summary) in rows {
        if let Some(summary) = summary {
            write_summary_row(text, &name, summary, 2);
        }
    }
    write_summary_row(text, "training time (s)", &report.total_seconds, 1);
    text.push('\n');

    if report.best_cifar10_1_accuracy.is_some() {
        writeln!(
            text,
            "The best CIFAR-10.1 accuracy is taken at the epoch with the best {split} \
             accuracy, not at the best CIFAR-10.1 epoch.\n"
        )
        .unwrap();
    }
}

fn write_summary_row(text: &mut String, name: &str, summary: &Summary, decimals: usize) {
    let std = summary
        .std
        .map_or_else(String::new, |std| format!("{std:.decimals$}"));
    writeln!(
        text,
        "| {name} | {} | {:.decimals$} | {std} | {:.decimals$} | {:.decimals$} |",
        summary.runs, summary.mean, summary.min, summary.max
    )
    .unwrap();
}

fn write_runs(text: &mut String, report: &Report) {
    let with_cifar10_1 = report.best_cifar10_1_accuracy.is_some();
    let with_manifest = report.per_run.iter().any(|row| row.started_at.is_some());
    let mixed = !report.mixed.is_empty();

    let mut header = vec![
        "folder",
        "seed",
        "epochs",
        "best epoch",
        "best (%)",
        "final (%)",
    ];
    if with_cifar10_1 {
        header.extend(["best CIFAR-10.1 (%)", "final CIFAR-10.1 (%)"]);
    }
    header.push("time (s)");
    if mixed {
        header.extend(["genotype", "channels x cells", "parameters"]);
    }
    if with_manifest {
        header.extend(["started", "revision"]);
    }

    writeln!(text, "## Runs\n").unwrap();
    writeln!(
        text,
        "best and final are {} accuracies.\n",
        test_split_name(report.setting.dataset)
    )
    .unwrap();
    writeln!(text, "| {} |", header.join(" | ")).unwrap();
    let alignment: Vec<&str> = header
        .iter()
        .map(|name| if is_text_column(name) { "---" } else { "---:" })
        .collect();
    writeln!(text, "| {} |", alignment.join(" | ")).unwrap();
    for row in &report.per_run {
        let mut cells = vec![
            cell(&format!("`{}`", row.folder)),
            row.seed.to_string(),
            epochs_cell(row),
            row.best_epoch.to_string(),
            format!("{:.2}", row.best_test_accuracy),
            format!("{:.2}", row.final_test_accuracy),
        ];
        if with_cifar10_1 {
            cells.push(optional_accuracy(row.best_cifar10_1_accuracy));
            cells.push(optional_accuracy(row.final_cifar10_1_accuracy));
        }
        cells.push(format!("{:.1}", row.total_seconds));
        if mixed {
            cells.push(cell(&row.genotype));
            cells.push(format!("{} x {}", row.init_channels, row.layers));
            cells.push(thousands(row.params as u64));
        }
        if with_manifest {
            cells.push(cell(row.started_at.as_deref().unwrap_or("")));
            // The first 12 hexadecimal digits, as `git log --abbrev=12`
            // prints them. report.json has the full revision.
            let revision = row.git_revision.as_deref().unwrap_or("");
            cells.push(cell(revision.get(..12).unwrap_or(revision)));
        }
        writeln!(text, "| {} |", cells.join(" | ")).unwrap();
    }
}

fn is_text_column(name: &str) -> bool {
    matches!(
        name,
        "folder" | "epochs" | "genotype" | "channels x cells" | "started" | "revision"
    )
}

fn epochs_cell(row: &RunRow) -> String {
    if row.finished {
        row.epochs_completed.to_string()
    } else {
        format!(
            "{} of {} (unfinished)",
            row.epochs_completed, row.epochs_planned
        )
    }
}

fn optional_accuracy(value: Option<f64>) -> String {
    value.map_or_else(String::new, |value| format!("{value:.2}"))
}

fn dataset_name(dataset: DatasetKind) -> &'static str {
    match dataset {
        DatasetKind::Cifar10 => "CIFAR-10",
        DatasetKind::ImageNet => "ImageNet",
    }
}

fn plural(count: usize, singular: &str, plural: &str) -> String {
    if count == 1 {
        format!("1 {singular}")
    } else {
        format!("{count} {plural}")
    }
}

/// Escapes the characters that would end a table cell or a line.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// Formats an integer with commas between groups of three digits.
pub(crate) fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(264634), "264,634");
        assert_eq!(thousands(49539584), "49,539,584");
    }

    #[test]
    fn cell_escapes_pipes_and_newlines() {
        assert_eq!(cell("runs/a|b\nc"), "runs/a\\|b c");
    }
}
