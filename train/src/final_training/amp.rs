//! Mixed precision on CUDA: libtorch's autocast for the training forward
//! pass and, for float16, dynamic loss scaling.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::TrainError;

/// Reduced-precision type of autocast (`--amp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MixedPrecision {
    /// bfloat16: the float32 exponent range, so no loss scaling.
    Bf16,
    /// float16, with dynamic loss scaling ([`LossScaler`]).
    Fp16,
}

impl fmt::Display for MixedPrecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MixedPrecision::Bf16 => "bf16",
            MixedPrecision::Fp16 => "fp16",
        })
    }
}

/// Dynamic loss scale of float16 training, as `torch.cuda.amp.GradScaler`
/// with its defaults: the loss is multiplied by `scale` before the backward
/// pass so that small float16 gradients do not flush to zero. A step whose
/// gradients contain an infinity or NaN is skipped and halves the scale; 2000
/// clean steps in a row double it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LossScaler {
    pub scale: f64,
    /// Steps with finite gradients since the scale last changed.
    pub clean_steps: u32,
}

impl LossScaler {
    pub const INITIAL_SCALE: f64 = 65536.0;
    /// Clean steps after which the scale doubles.
    pub const GROWTH_INTERVAL: u32 = 2000;

    pub fn new() -> LossScaler {
        LossScaler {
            scale: Self::INITIAL_SCALE,
            clean_steps: 0,
        }
    }

    /// Updates the scale after a backward pass and returns whether the
    /// optimizer step may be taken, which is when `gradients_finite`.
    pub fn update(&mut self, gradients_finite: bool) -> bool {
        if !gradients_finite {
            self.scale /= 2.0;
            self.clean_steps = 0;
            return false;
        }
        self.clean_steps += 1;
        if self.clean_steps == Self::GROWTH_INTERVAL {
            self.scale *= 2.0;
            self.clean_steps = 0;
        }
        true
    }
}

impl Default for LossScaler {
    fn default() -> Self {
        LossScaler::new()
    }
}

/// Makes autocast run CUDA operations in `precision`.
pub(super) fn set_autocast_type(precision: MixedPrecision) -> Result<(), TrainError> {
    binding::set_cuda_type(precision)
}

#[cfg(autocast_binding)]
mod binding {
    use std::os::raw::c_int;

    use super::MixedPrecision;
    use crate::TrainError;

    extern "C" {
        fn sharpdarts_set_autocast_cuda_dtype(bfloat16: c_int) -> c_int;
    }

    pub(super) fn set_cuda_type(precision: MixedPrecision) -> Result<(), TrainError> {
        let bfloat16 = c_int::from(precision == MixedPrecision::Bf16);
        // SAFETY: the function only sets a thread-local setting of libtorch
        // and catches every C++ exception.
        if unsafe { sharpdarts_set_autocast_cuda_dtype(bfloat16) } != 0 {
            return Err(TrainError::InvalidOption {
                option: "amp",
                value: precision.to_string(),
                fix: "libtorch rejected this autocast type; leave out --amp".to_string(),
            });
        }
        Ok(())
    }
}

#[cfg(not(autocast_binding))]
mod binding {
    use super::MixedPrecision;
    use crate::TrainError;

    pub(super) fn set_cuda_type(precision: MixedPrecision) -> Result<(), TrainError> {
        Err(TrainError::InvalidOption {
            option: "amp",
            value: precision.to_string(),
            fix: "this build has no autocast binding because the libtorch headers were not \
                  found; rebuild against a libtorch with headers or leave out --amp"
                .to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaler_halves_on_overflow() {
        let mut scaler = LossScaler::new();
        assert_eq!(scaler.scale, 65536.0);
        assert!(!scaler.update(false), "the step is skipped");
        assert_eq!(scaler.scale, 32768.0);
        assert_eq!(scaler.clean_steps, 0);
        assert!(!scaler.update(false));
        assert_eq!(scaler.scale, 16384.0);
    }

    #[test]
    fn scaler_doubles_after_clean_steps() {
        let mut scaler = LossScaler::new();
        for step in 1..LossScaler::GROWTH_INTERVAL {
            assert!(scaler.update(true), "step {step} is taken");
            assert_eq!(scaler.scale, 65536.0, "after {step} clean steps");
        }
        assert_eq!(scaler.clean_steps, 1999);
        assert!(scaler.update(true));
        assert_eq!(scaler.scale, 131072.0);
        assert_eq!(scaler.clean_steps, 0);
    }

    #[test]
    fn overflow_restarts_clean_count() {
        let mut scaler = LossScaler::new();
        for _ in 0..1500 {
            scaler.update(true);
        }
        scaler.update(false);
        assert_eq!(scaler.scale, 32768.0);
        for _ in 0..1999 {
            scaler.update(true);
        }
        assert_eq!(scaler.scale, 32768.0, "1999 clean steps since the overflow");
        scaler.update(true);
        assert_eq!(scaler.scale, 65536.0);
    }

    #[test]
    fn scaler_round_trips_through_json() {
        let scaler = LossScaler {
            scale: 1024.0,
            clean_steps: 17,
        };
        let json = serde_json::to_string(&scaler).unwrap();
        assert_eq!(serde_json::from_str::<LossScaler>(&json).unwrap(), scaler);
    }
}
