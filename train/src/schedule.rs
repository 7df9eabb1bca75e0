//! Cosine Power Annealing, the learning rate schedule of sharpDARTS
//! (Hundt, Jain, Hager 2019, "sharpDARTS: Faster and More Accurate
//! Differentiable Architecture Search", Eq. 2), computed in float64 the way the
//! reference implementation does (ahundt/sharpDARTS, `cnn/cosine_power_annealing.py`).

use std::f64::consts::PI;

/// Invalid schedule settings.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScheduleError {
    #[error("invalid number of epochs 0: train for at least 1 epoch")]
    NoEpochs,
    #[error("invalid exponent {0}: use 1 for plain cosine annealing or a value above 1")]
    Exponent(f64),
    #[error(
        "invalid warm-up of {warmup} epochs for {epochs} epochs: \
         use fewer warm-up epochs than training epochs"
    )]
    Warmup { warmup: usize, epochs: usize },
    #[error(
        "invalid learning rates max {max_lr} and min {min_lr}: \
         both must be finite and non-negative, with min <= max"
    )]
    LearningRates { max_lr: f64, min_lr: f64 },
}

/// Normalised cosine `c` and scaled curve `s` before mapping to learning rates.
#[derive(Debug, Clone, PartialEq)]
struct Curve {
    cosine: Vec<f64>,
    scaled: Vec<f64>,
}

/// Returns the learning rate of each epoch; entry `e - 1` is epoch `e`.
///
/// With `warmup_epochs = W > 0` the first `W + 1` epochs ramp linearly from
/// `min_lr + (max_lr - min_lr) / (W + 1)` to exactly `max_lr`, then the power
/// curve `(p^(c + 1) - p) / (p^2 - p)` with `c = (1 + cos(pi e / (E - W))) / 2`
/// decays to `min_lr` at the last epoch. Without warm-up the curve is min/max
/// normalised over all epochs, so the first epoch is `max_lr` and the last is
/// `min_lr`. `exponent = 1` gives plain cosine annealing.
///
/// A single epoch without warm-up trains at `max_lr`, where the reference
/// implementation divides zero by zero.
pub fn cosine_power_annealing(
    epochs: usize,
    max_lr: f64,
    min_lr: f64,
    exponent: f64,
    warmup_epochs: usize,
) -> Result<Vec<f64>, ScheduleError> {
    let valid_lr = |lr: f64| lr.is_finite() && lr >= 0.0;
    if !(valid_lr(max_lr) && valid_lr(min_lr) && min_lr <= max_lr) {
        return Err(ScheduleError::LearningRates { max_lr, min_lr });
    }
    let curve = curve(epochs, exponent, warmup_epochs)?;
    let range = max_lr - min_lr;
    Ok(curve.scaled.iter().map(|s| min_lr + s * range).collect())
}

fn curve(epochs: usize, exponent: f64, warmup: usize) -> Result<Curve, ScheduleError> {
    if epochs == 0 {
        return Err(ScheduleError::NoEpochs);
    }
    // NaN is outside every range, so it is rejected too.
    if !(1.0..f64::INFINITY).contains(&exponent) {
        return Err(ScheduleError::Exponent(exponent));
    }
    if warmup >= epochs {
        return Err(ScheduleError::Warmup { warmup, epochs });
    }

    // Epoch k = 1..E sits at e = k - W on a cosine over E - W epochs, so the
    // warm-up epochs get e <= 0; their raw values are overwritten below but
    // still take part in the normalisation, as in the reference implementation.
    let span = (epochs - warmup) as f64;
    let cosine: Vec<f64> = (1..=epochs)
        .map(|k| {
            let e = k as f64 - warmup as f64;
            (1.0 + (PI * e / span).cos()) / 2.0
        })
        .collect();
    let raw: Vec<f64> = if exponent == 1.0 {
        cosine.clone()
    } else {
        cosine.iter().map(|c| exponent.powf(c + 1.0)).collect()
    };

    let min = raw.iter().copied().fold(f64::INFINITY, f64::min);
    let range = raw
        .iter()
        .map(|r| r - min)
        .fold(f64::NEG_INFINITY, f64::max);
    let mut scaled: Vec<f64> = if range > 0.0 {
        raw.iter().map(|r| (r - min) / range).collect()
    } else {
        vec![1.0; epochs]
    };
    if warmup > 0 {
        let ramp_epochs = warmup + 1;
        for (k, s) in scaled.iter_mut().take(ramp_epochs).enumerate() {
            *s = (k + 1) as f64 / ramp_epochs as f64;
        }
    }
    Ok(Curve { cosine, scaled })
}

// The expected values are the reference function's float64 output, printed
// with 17 significant digits; they are kept verbatim.
#[cfg(test)]
#[allow(clippy::excessive_precision)]
mod tests {
    use super::*;

    const MAX_LR: f64 = 0.025;
    const MIN_LR: f64 = 1e-8;

    fn assert_close(actual: &[f64], expected: &[f64], what: &str) {
        assert_eq!(actual.len(), expected.len(), "{what}: length");
        for (k, (a, e)) in actual.iter().zip(expected).enumerate() {
            let tolerance = 1e-12 * e.abs().max(1e-300);
            assert!(
                (a - e).abs() <= tolerance,
                "{what}: epoch {} is {a:e}, expected {e:e}",
                k + 1
            );
        }
    }

    /// Checks `actual` against a value printed with limited digits: it must
    /// round to the printed value, i.e. differ by at most half a unit in the
    /// last printed digit.
    fn assert_matches_printed(actual: f64, printed: &str, what: &str) {
        let (mantissa, exponent) = match printed.split_once('e') {
            Some((m, e)) => (m, e.parse::<i32>().unwrap()),
            None => (printed, 0),
        };
        let decimals = mantissa.split_once('.').map_or(0, |(_, d)| d.len()) as i32;
        let half_unit = 0.5 * 10f64.powi(exponent - decimals);
        let expected: f64 = printed.parse().unwrap();
        let slack = 1e-15 * expected.abs();
        assert!(
            (actual - expected).abs() <= half_unit + slack,
            "{what}: {actual:e} does not round to {printed}"
        );
    }

    fn schedule(epochs: usize, p: f64, warmup: usize) -> Vec<f64> {
        cosine_power_annealing(epochs, MAX_LR, MIN_LR, p, warmup).unwrap()
    }

    #[test]
    fn ten_epochs_exponent_2() {
        let expected = [
            0.025,
            0.022556441981921572,
            0.018982195241981074,
            0.014851585331638974,
            0.010715813073904124,
            0.0070000764467348887,
            0.0039729400177382791,
            0.0017702933187240665,
            0.00044257730176041878,
            1e-08,
        ];
        assert_close(&schedule(10, 2.0, 0), &expected, "E=10 p=2");
    }

    #[test]
    fn ten_epochs_exponent_10() {
        let expected = [
            0.025,
            0.020782332525781027,
            0.015444287339061225,
            0.010392242708708527,
            0.0063956899819160281,
            0.0035955673624903151,
            0.001796422822495172,
            0.00072741441104830272,
            0.00017146460745455361,
            1e-08,
        ];
        assert_close(&schedule(10, 10.0, 0), &expected, "E=10 p=10");
    }

    #[test]
    fn ten_epochs_plain_cosine() {
        let expected = [
            0.025,
            0.023179967316193959,
            0.020345199951152779,
            0.016773184685552309,
            0.012813575261283301,
            0.0088539658370142982,
            0.0052819505714138282,
            0.002447183206372648,
            0.00062715052256660613,
            1e-08,
        ];
        assert_close(&schedule(10, 1.0, 0), &expected, "E=10 p=1");
    }

    const RAMP_W3: [f64; 4] = [0.0062500075, 0.012500005, 0.0187500025, 0.025];

    #[test]
    fn ten_epochs_exponent_2_warmup_3() {
        let tail = [
            0.01888333213799628,
            0.013189836417458802,
            0.0077312325917618281,
            0.0034846292762877556,
            0.00087294357014580095,
            1e-08,
        ];
        let expected = [RAMP_W3.as_slice(), &tail].concat();
        assert_close(&schedule(10, 2.0, 3), &expected, "E=10 p=2 W=3");
    }

    #[test]
    fn ten_epochs_exponent_10_warmup_3() {
        let tail = [
            0.015229269068952141,
            0.0085712384677739829,
            0.0040211052330930948,
            0.0015072491033720754,
            0.00033547541064484057,
            1e-08,
        ];
        let expected = [RAMP_W3.as_slice(), &tail].concat();
        assert_close(&schedule(10, 10.0, 3), &expected, "E=10 p=10 W=3");
    }

    #[test]
    fn ten_epochs_plain_cosine_warmup_3() {
        let tail = [
            0.020293624405785162,
            0.015281515561849259,
            0.0097184944381507408,
            0.004706385594214841,
            0.0012378986560641016,
            1e-08,
        ];
        let expected = [RAMP_W3.as_slice(), &tail].concat();
        assert_close(&schedule(10, 1.0, 3), &expected, "E=10 p=1 W=3");
    }

    #[test]
    fn ten_epochs_intermediates() {
        let curve = curve(10, 2.0, 0).unwrap();
        let cosine = [
            0.9755282581475768,
            0.9045084971874737,
            0.7938926261462366,
            0.6545084971874737,
            0.5,
            0.34549150281252633,
            0.2061073738537635,
            0.09549150281252633,
            0.024471741852423234,
            0.0,
        ];
        let scaled = [
            1.0,
            0.9022576401799189,
            0.7592877133943283,
            0.5940632508908593,
            0.42863229440908274,
            0.2800027698705035,
            0.15891726427643688,
            0.07081136107350709,
            0.01770269915149641,
            0.0,
        ];
        // The last cosine is 0 up to rounding of cos(pi).
        assert_close(&curve.cosine[..9], &cosine[..9], "cosine");
        assert!(curve.cosine[9].abs() < 1e-15, "cosine of the last epoch");
        assert_close(&curve.scaled, &scaled, "scaled");
    }

    #[test]
    fn twelve_epochs_warmup_5() {
        let expected = [
            0.004166675,
            0.00833334,
            0.012500005,
            0.01666667,
            0.020833335,
            0.025,
            0.01888333213799628,
            0.013189836417458802,
            0.0077312325917618281,
            0.0034846292762877556,
            0.00087294357014580095,
            1e-08,
        ];
        assert_close(&schedule(12, 2.0, 5), &expected, "E=12 p=2 W=5");
    }

    #[test]
    fn paper_cifar_recipe() {
        let lr = schedule(2000, 2.0, 5);
        assert_eq!(lr.len(), 2000);
        let printed = [
            (1, "0.004166675"),
            (2, "0.00833334"),
            (5, "0.020833335"),
            (6, "0.025"),
            (7, "0.02499991406"),
            (500, "0.02023887932"),
            (1000, "0.0104036166"),
            (1500, "0.002684371972"),
            (1999, "2.074284361e-08"),
            (2000, "1e-08"),
        ];
        for (epoch, value) in printed {
            assert_matches_printed(lr[epoch - 1], value, &format!("epoch {epoch}"));
        }
    }

    #[test]
    fn search_recipe() {
        let lr = cosine_power_annealing(120, 0.025, 1e-4, 2.0, 5).unwrap();
        let printed = [
            (1, "0.00425"),
            (2, "0.0084"),
            (5, "0.02085"),
            (6, "0.025"),
            (7, "0.02497425229"),
            (30, "0.02127555001"),
            (60, "0.01125668963"),
            (90, "0.002995843645"),
            (119, "0.0001032201044"),
            (120, "0.0001"),
        ];
        for (epoch, value) in printed {
            assert_matches_printed(lr[epoch - 1], value, &format!("epoch {epoch}"));
        }
    }

    #[test]
    fn rejects_exponent_below_one() {
        let error = cosine_power_annealing(10, MAX_LR, MIN_LR, 0.5, 0).unwrap_err();
        assert_eq!(error, ScheduleError::Exponent(0.5));
        assert!(error.to_string().contains("0.5"), "{error}");
        let nan = cosine_power_annealing(10, MAX_LR, MIN_LR, f64::NAN, 0);
        assert!(matches!(nan, Err(ScheduleError::Exponent(_))));
    }

    #[test]
    fn rejects_warmup_not_below_epochs() {
        let error = cosine_power_annealing(5, MAX_LR, MIN_LR, 2.0, 5).unwrap_err();
        assert_eq!(
            error,
            ScheduleError::Warmup {
                warmup: 5,
                epochs: 5
            }
        );
        assert!(cosine_power_annealing(6, MAX_LR, MIN_LR, 2.0, 5).is_ok());
    }

    #[test]
    fn rejects_bad_learning_rates() {
        for (max_lr, min_lr) in [(-0.1, 0.0), (0.01, 0.1), (f64::NAN, 0.0), (0.1, -1e-8)] {
            let result = cosine_power_annealing(10, max_lr, min_lr, 2.0, 0);
            assert!(
                matches!(result, Err(ScheduleError::LearningRates { .. })),
                "{max_lr} {min_lr}"
            );
        }
    }

    #[test]
    fn rejects_zero_epochs() {
        let result = cosine_power_annealing(0, MAX_LR, MIN_LR, 2.0, 0);
        assert_eq!(result, Err(ScheduleError::NoEpochs));
    }

    #[test]
    fn single_epoch_uses_max_lr() {
        assert_eq!(schedule(1, 2.0, 0), vec![MAX_LR]);
    }
}
