//! SVG plots of the runs' per-epoch metrics, drawn with plotters' SVG backend.
//!
//! Each run is one line per panel, in its colour from [`series_color`]. Axes,
//! grid lines and ticks are black or grey, and the legend marks runs with
//! filled rectangles, so the only lines in a run's colour are its data.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::run_folder::{EpochMetrics, TrainingRun};

/// Series colours in run order: the Tableau 10 palette, repeating after ten runs.
const SERIES_COLORS: [RGBColor; 10] = [
    RGBColor(0x1F, 0x77, 0xB4),
    RGBColor(0xFF, 0x7F, 0x0E),
    RGBColor(0x2C, 0xA0, 0x2C),
    RGBColor(0xD6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xBD),
    RGBColor(0x8C, 0x56, 0x4B),
    RGBColor(0xE3, 0x77, 0xC2),
    RGBColor(0x7F, 0x7F, 0x7F),
    RGBColor(0xBC, 0xBD, 0x22),
    RGBColor(0x17, 0xBE, 0xCF),
];

const WIDTH: u32 = 900;
const PANEL_HEIGHT: u32 = 340;
/// Runs with at most this many epochs get a marker on every epoch, so a
/// single-epoch run is still visible.
const MARKED_EPOCHS: usize = 30;

/// Returns the colour of run `index` (0-based, in report order).
pub fn series_color(index: usize) -> RGBColor {
    SERIES_COLORS[index % SERIES_COLORS.len()]
}

/// Returns the colour of run `index` as the SVG files write it: `#RRGGBB`
/// with upper-case hexadecimal digits.
pub fn series_color_hex(index: usize) -> String {
    let RGBColor(red, green, blue) = series_color(index);
    format!("#{red:02X}{green:02X}{blue:02X}")
}

/// Rule for the vertical range of a panel.
#[derive(Clone, Copy)]
enum Scale {
    /// A margin around the data, within 0 to 100.
    Percent,
    /// A margin around the data, not below 0 when the data are not.
    Fitted,
    /// From 0 to a little above the largest value.
    FromZero,
}

/// One chart: a metric per epoch, one line per run.
struct Panel {
    title: String,
    y_description: &'static str,
    value: fn(&EpochMetrics) -> Option<f64>,
    scale: Scale,
    y_format: fn(&f64) -> String,
    legend: SeriesLabelPosition,
}

/// Draws `learning_curves.svg`: test accuracy, CIFAR-10.1 accuracy when any
/// run has it, and training loss per epoch.
///
/// `test_split` names the split of the test accuracy, e.g. `CIFAR-10 test`.
pub fn learning_curves_svg(runs: &[TrainingRun], test_split: &str) -> Result<String, String> {
    let mut panels = vec![Panel {
        title: format!("{test_split} accuracy"),
        y_description: "test accuracy (%)",
        value: |m| Some(m.test_accuracy),
        scale: Scale::Percent,
        y_format: |v| format!("{v:.0}"),
        legend: SeriesLabelPosition::LowerRight,
    }];
    let has_cifar10_1 = runs
        .iter()
        .any(|run| run.metrics.iter().any(|m| m.cifar10_1_accuracy.is_some()));
    if has_cifar10_1 {
        panels.push(Panel {
            title: "CIFAR-10.1 accuracy".to_string(),
            y_description: "CIFAR-10.1 accuracy (%)",
            value: |m| m.cifar10_1_accuracy,
            scale: Scale::Percent,
            y_format: |v| format!("{v:.0}"),
            legend: SeriesLabelPosition::LowerRight,
        });
    }
    panels.push(Panel {
        title: "training objective (train_loss)".to_string(),
        y_description: "train loss",
        value: |m| Some(m.train_loss),
        scale: Scale::Fitted,
        y_format: |v| format!("{v:.2}"),
        legend: SeriesLabelPosition::UpperRight,
    });
    draw_panels(runs, &panels)
}

/// Draws `lr_schedule.svg`: the learning rate of every epoch.
pub fn lr_schedule_svg(runs: &[TrainingRun]) -> Result<String, String> {
    let panel = Panel {
        title: "learning rate schedule".to_string(),
        y_description: "learning rate",
        value: |m| Some(m.lr),
        scale: Scale::FromZero,
        y_format: |v| format!("{v:.1e}"),
        legend: SeriesLabelPosition::UpperRight,
    };
    draw_panels(runs, &[panel])
}

/// Draws `panels` stacked vertically into one SVG document.
fn draw_panels(runs: &[TrainingRun], panels: &[Panel]) -> Result<String, String> {
    let mut svg = String::new();
    {
        let height = PANEL_HEIGHT * panels.len() as u32;
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let areas = root.split_evenly((panels.len(), 1));
        for (area, panel) in areas.iter().zip(panels) {
            draw_panel(area, panel, runs).map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
    runs: &[TrainingRun],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let curves: Vec<Vec<(u32, f64)>> = runs.iter().map(|run| curve(run, panel.value)).collect();
    let values = curves.iter().flatten().map(|&(_, value)| value);
    let (low, high) = y_range(values, panel.scale);
    // A range needs two distinct epochs, even when every run has only one.
    let last_epoch = curves
        .iter()
        .flatten()
        .map(|&(epoch, _)| epoch)
        .max()
        .unwrap_or(1)
        .max(2);
    let longest = curves.iter().map(Vec::len).max().unwrap_or(0);

    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(1u32..last_epoch, low..high)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(panel.y_description)
        .y_label_formatter(&panel.y_format)
        .draw()?;
    for (index, (run, points)) in runs.iter().zip(curves).enumerate() {
        if points.is_empty() {
            continue;
        }
        let color = series_color(index);
        let marker = if longest <= MARKED_EPOCHS { 3 } else { 0 };
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)).point_size(marker))?
            .label(format!(
                "seed {}: {}",
                run.config.seed,
                run.folder.display()
            ))
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .position(panel.legend.clone())
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()?;
    Ok(())
}

/// Returns the finite values of one metric with their epochs.
fn curve(run: &TrainingRun, value: fn(&EpochMetrics) -> Option<f64>) -> Vec<(u32, f64)> {
    run.metrics
        .iter()
        .filter_map(|metrics| {
            let y = value(metrics).filter(|y| y.is_finite())?;
            let epoch = u32::try_from(metrics.epoch).ok()?;
            Some((epoch, y))
        })
        .collect()
}

/// Returns the vertical range of a panel; never empty.
fn y_range(values: impl Iterator<Item = f64>, scale: Scale) -> (f64, f64) {
    let (min, max) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(min, max), v| {
        (min.min(v), max.max(v))
    });
    if !min.is_finite() {
        return match scale {
            Scale::Percent => (0.0, 100.0),
            Scale::Fitted | Scale::FromZero => (0.0, 1.0),
        };
    }
    match scale {
        Scale::Percent => {
            let margin = ((max - min) * 0.1).max(1.0);
            let low = (min - margin).max(0.0);
            let high = (max + margin).min(100.0);
            (low, high.max(low + 1.0))
        }
        Scale::Fitted => {
            let margin = ((max - min) * 0.1).max(max.abs() * 0.01).max(1e-9);
            let low = if min >= 0.0 {
                (min - margin).max(0.0)
            } else {
                min - margin
            };
            (low, max + margin)
        }
        Scale::FromZero => {
            let high = if max > 0.0 { max * 1.1 } else { 1.0 };
            (min.min(0.0), high)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn color_hex_matches_palette() {
        assert_eq!(series_color_hex(0), "#1F77B4");
        assert_eq!(series_color_hex(3), "#D62728");
        assert_eq!(series_color_hex(10), series_color_hex(0));
    }

    #[test]
    fn percent_range_stays_within_bounds() {
        let (low, high) = y_range([99.5, 100.0].into_iter(), Scale::Percent);
        assert_eq!(high, 100.0);
        assert!(low < 99.5, "{low}");
        let (low, high) = y_range([0.0].into_iter(), Scale::Percent);
        assert_eq!(low, 0.0);
        assert!(high > low);
    }

    #[test]
    fn range_without_values_is_default() {
        assert_eq!(y_range(std::iter::empty(), Scale::Percent), (0.0, 100.0));
        assert_eq!(y_range(std::iter::empty(), Scale::FromZero), (0.0, 1.0));
        assert_eq!(y_range(std::iter::empty(), Scale::Fitted), (0.0, 1.0));
    }

    #[test]
    fn fitted_range_surrounds_values() {
        let (low, high) = y_range([2.4, 2.8].into_iter(), Scale::Fitted);
        assert!((2.0..2.4).contains(&low), "{low}");
        assert!((2.8..3.0).contains(&high), "{high}");
        let (low, high) = y_range([0.01].into_iter(), Scale::Fitted);
        assert!((0.0..0.01).contains(&low), "{low}");
        assert!(high > 0.01, "{high}");
    }

    #[test]
    fn from_zero_range_covers_values() {
        let (low, high) = y_range([0.025, 1e-8].into_iter(), Scale::FromZero);
        assert_eq!(low, 0.0);
        assert!(high > 0.025);
    }
}
