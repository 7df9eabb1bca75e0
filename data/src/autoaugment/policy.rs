//! The AutoAugment operations, their magnitude scale and the two learned
//! policies, as the published sharpDARTS code uses them.
//!
//! Each policy is a list of sub-policies of two steps. A step applies its
//! operation with its probability, at a magnitude level from 0 to 9 that
//! [`Operation::magnitude`] maps to the operation's own scale.

use rand::Rng;

use super::ops;
use crate::image::RgbImage;

/// Number of magnitude levels. A step's level is in `0..MAGNITUDE_LEVELS`.
pub const MAGNITUDE_LEVELS: u8 = 10;

/// Bits that posterize keeps at each magnitude level, numpy's
/// `round(linspace(8, 4, 10))`.
pub const POSTERIZE_BITS: [u8; MAGNITUDE_LEVELS as usize] = [8, 8, 7, 7, 6, 6, 5, 5, 4, 4];

/// Largest translation as a fraction of the image side, the published
/// code's 150 / 331 (150 pixels on a 331-pixel side).
pub const MAX_TRANSLATE_FRACTION: f64 = 150.0 / 331.0;

/// An image operation of the AutoAugment search space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    ShearX,
    ShearY,
    TranslateX,
    TranslateY,
    Rotate,
    Color,
    Posterize,
    Solarize,
    Contrast,
    Sharpness,
    Brightness,
    AutoContrast,
    Equalize,
    Invert,
    /// A no-op: the published code lists Cutout in the policies but applies
    /// nothing for it.
    Cutout,
}

impl Operation {
    /// Returns the value of magnitude `level` on this operation's scale,
    /// computed as numpy's `linspace(start, stop, 10)[level]`:
    ///
    /// * shears: 0 to 0.3 (shear factor).
    /// * translations: 0 to 150/331 (fraction of the image side).
    /// * rotate: 0 to 30 degrees.
    /// * color, contrast, sharpness, brightness: 0 to 0.9 (change of the
    ///   enhancement factor from 1).
    /// * posterize: bits kept, [`POSTERIZE_BITS`].
    /// * solarize: threshold from 256 down to 0.
    /// * autocontrast, equalize, invert, cutout: 0 (no magnitude).
    ///
    /// Panics if `level >= MAGNITUDE_LEVELS`.
    pub fn magnitude(self, level: u8) -> f64 {
        assert!(
            level < MAGNITUDE_LEVELS,
            "magnitude level {level} is not in 0..{MAGNITUDE_LEVELS}"
        );
        match self {
            Operation::ShearX | Operation::ShearY => linspace(0.0, 0.3, level),
            Operation::TranslateX | Operation::TranslateY => {
                linspace(0.0, MAX_TRANSLATE_FRACTION, level)
            }
            Operation::Rotate => linspace(0.0, 30.0, level),
            Operation::Color
            | Operation::Contrast
            | Operation::Sharpness
            | Operation::Brightness => linspace(0.0, 0.9, level),
            Operation::Posterize => f64::from(POSTERIZE_BITS[usize::from(level)]),
            Operation::Solarize => linspace(256.0, 0.0, level),
            Operation::AutoContrast
            | Operation::Equalize
            | Operation::Invert
            | Operation::Cutout => 0.0,
        }
    }

    /// Returns whether the published code multiplies the magnitude by a
    /// random sign: shears, translations and the four enhancements do, and
    /// rotate always turns counter-clockwise.
    pub fn takes_sign(self) -> bool {
        matches!(
            self,
            Operation::ShearX
                | Operation::ShearY
                | Operation::TranslateX
                | Operation::TranslateY
                | Operation::Color
                | Operation::Contrast
                | Operation::Sharpness
                | Operation::Brightness
        )
    }

    /// Applies the operation at magnitude `level`, negated when `negative`
    /// is set and the operation [takes a sign](Operation::takes_sign).
    ///
    /// Translations move by the magnitude times the image width (x) or
    /// height (y) in pixels, and the enhancements use factor `1 + magnitude`
    /// or `1 - magnitude`. Panics if `level >= MAGNITUDE_LEVELS`.
    pub fn apply(self, image: &RgbImage, level: u8, negative: bool) -> RgbImage {
        let magnitude = self.magnitude(level);
        let signed = if negative && self.takes_sign() {
            -magnitude
        } else {
            magnitude
        };
        match self {
            Operation::ShearX => ops::shear_x(image, signed),
            Operation::ShearY => ops::shear_y(image, signed),
            Operation::TranslateX => ops::translate_x(image, signed * f64::from(image.width())),
            Operation::TranslateY => ops::translate_y(image, signed * f64::from(image.height())),
            Operation::Rotate => ops::rotate(image, magnitude),
            Operation::Color => ops::color(image, 1.0 + signed),
            Operation::Posterize => ops::posterize(image, POSTERIZE_BITS[usize::from(level)]),
            Operation::Solarize => ops::solarize(image, magnitude),
            Operation::Contrast => ops::contrast(image, 1.0 + signed),
            Operation::Sharpness => ops::sharpness(image, 1.0 + signed),
            Operation::Brightness => ops::brightness(image, 1.0 + signed),
            Operation::AutoContrast => ops::autocontrast(image),
            Operation::Equalize => ops::equalize(image),
            Operation::Invert => ops::invert(image),
            Operation::Cutout => image.clone(),
        }
    }
}

/// Returns element `level` of numpy's `linspace(start, stop, 10)`, which is
/// `start + level * step` except for the last, which is `stop` exactly.
fn linspace(start: f64, stop: f64, level: u8) -> f64 {
    let last = MAGNITUDE_LEVELS - 1;
    if level == last {
        return stop;
    }
    let step = (stop - start) / f64::from(last);
    f64::from(level) * step + start
}

/// One step of a sub-policy: apply `operation` at magnitude level
/// `magnitude` with probability `probability`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    pub probability: f64,
    pub operation: Operation,
    pub magnitude: u8,
}

/// Two steps applied in order, each with its own probability draw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SubPolicy {
    pub first: Step,
    pub second: Step,
}

/// A step that the draws of [`SubPolicy::sample`] selected, with its sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AppliedStep {
    pub operation: Operation,
    pub magnitude: u8,
    /// Whether the magnitude is negated. It is always false for an
    /// operation that does not [take a sign](Operation::takes_sign).
    pub negative: bool,
}

impl AppliedStep {
    /// Applies the step to `image`.
    pub fn apply(&self, image: &RgbImage) -> RgbImage {
        self.operation.apply(image, self.magnitude, self.negative)
    }
}

impl SubPolicy {
    /// Returns the two steps in order.
    pub fn steps(&self) -> [Step; 2] {
        [self.first, self.second]
    }

    /// Draws which steps apply, in the order of the published code: a
    /// uniform value in [0, 1) per step, which applies when it is below the
    /// step's probability, and for an applied step that takes a sign, a
    /// fair coin for the sign right after its value.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> [Option<AppliedStep>; 2] {
        self.steps().map(|step| {
            let applies = rng.random::<f64>() < step.probability;
            applies.then(|| AppliedStep {
                operation: step.operation,
                magnitude: step.magnitude,
                negative: step.operation.takes_sign() && rng.random_bool(0.5),
            })
        })
    }
}

const fn sub_policy(p1: f64, op1: Operation, m1: u8, p2: f64, op2: Operation, m2: u8) -> SubPolicy {
    SubPolicy {
        first: Step {
            probability: p1,
            operation: op1,
            magnitude: m1,
        },
        second: Step {
            probability: p2,
            operation: op2,
            magnitude: m2,
        },
    }
}

use Operation::{
    AutoContrast, Brightness, Color, Contrast, Cutout, Equalize, Invert, Posterize, Rotate,
    Sharpness, ShearX, ShearY, Solarize, TranslateX, TranslateY,
};

/// The CIFAR-10 policy: the 19 groups of 5 sub-policies (`exp0_0` to
/// `exp2_7`) of `good_policies` in the TensorFlow AutoAugment release, in
/// that order.
pub const CIFAR10_POLICY: [SubPolicy; 95] = [
    sub_policy(0.1, Invert, 7, 0.2, Contrast, 6),       // 0
    sub_policy(0.7, Rotate, 2, 0.3, TranslateX, 9),     // 1
    sub_policy(0.8, Sharpness, 1, 0.9, Sharpness, 3),   // 2
    sub_policy(0.5, ShearY, 8, 0.7, TranslateY, 9),     // 3
    sub_policy(0.5, AutoContrast, 8, 0.9, Equalize, 2), // 4
    sub_policy(0.4, Solarize, 5, 0.9, AutoContrast, 3), // 5
    sub_policy(0.9, TranslateY, 9, 0.7, TranslateY, 9), // 6
    sub_policy(0.9, AutoContrast, 2, 0.8, Solarize, 3), // 7
    sub_policy(0.8, Equalize, 8, 0.1, Invert, 3),       // 8
    sub_policy(0.7, TranslateY, 9, 0.9, AutoContrast, 1), // 9
    sub_policy(0.4, Solarize, 5, 0.0, AutoContrast, 2), // 10
    sub_policy(0.7, TranslateY, 9, 0.7, TranslateY, 9), // 11
    sub_policy(0.9, AutoContrast, 0, 0.4, Solarize, 3), // 12
    sub_policy(0.7, Equalize, 5, 0.1, Invert, 3),       // 13
    sub_policy(0.7, TranslateY, 9, 0.7, TranslateY, 9), // 14
    sub_policy(0.4, Solarize, 5, 0.9, AutoContrast, 1), // 15
    sub_policy(0.8, TranslateY, 9, 0.9, TranslateY, 9), // 16
    sub_policy(0.8, AutoContrast, 0, 0.7, TranslateY, 9), // 17
    sub_policy(0.2, TranslateY, 7, 0.9, Color, 6),      // 18
    sub_policy(0.7, Equalize, 6, 0.4, Color, 9),        // 19
    sub_policy(0.2, ShearY, 7, 0.3, Posterize, 7),      // 20
    sub_policy(0.4, Color, 3, 0.6, Brightness, 7),      // 21
    sub_policy(0.3, Sharpness, 9, 0.7, Brightness, 9),  // 22
    sub_policy(0.6, Equalize, 5, 0.5, Equalize, 1),     // 23
    sub_policy(0.6, Contrast, 7, 0.6, Sharpness, 5),    // 24
    sub_policy(0.3, Brightness, 7, 0.5, AutoContrast, 8), // 25
    sub_policy(0.9, AutoContrast, 4, 0.5, AutoContrast, 6), // 26
    sub_policy(0.3, Solarize, 5, 0.6, Equalize, 5),     // 27
    sub_policy(0.2, TranslateY, 4, 0.3, Sharpness, 3),  // 28
    sub_policy(0.0, Brightness, 8, 0.8, Color, 8),      // 29
    sub_policy(0.2, Solarize, 6, 0.8, Color, 6),        // 30
    sub_policy(0.2, Solarize, 6, 0.8, AutoContrast, 1), // 31
    sub_policy(0.4, Solarize, 1, 0.6, Equalize, 5),     // 32
    sub_policy(0.0, Brightness, 0, 0.5, Solarize, 2),   // 33
    sub_policy(0.9, AutoContrast, 5, 0.5, Brightness, 3), // 34
    sub_policy(0.7, Contrast, 5, 0.0, Brightness, 2),   // 35
    sub_policy(0.2, Solarize, 8, 0.1, Solarize, 5),     // 36
    sub_policy(0.5, Contrast, 1, 0.2, TranslateY, 9),   // 37
    sub_policy(0.6, AutoContrast, 5, 0.0, TranslateY, 9), // 38
    sub_policy(0.9, AutoContrast, 4, 0.8, Equalize, 4), // 39
    sub_policy(0.0, Brightness, 7, 0.4, Equalize, 7),   // 40
    sub_policy(0.2, Solarize, 5, 0.7, Equalize, 5),     // 41
    sub_policy(0.6, Equalize, 8, 0.6, Color, 2),        // 42
    sub_policy(0.3, Color, 7, 0.2, Color, 4),           // 43
    sub_policy(0.5, AutoContrast, 2, 0.7, Solarize, 2), // 44
    sub_policy(0.2, AutoContrast, 0, 0.1, Equalize, 0), // 45
    sub_policy(0.6, ShearY, 5, 0.6, Equalize, 5),       // 46
    sub_policy(0.9, Brightness, 3, 0.4, AutoContrast, 1), // 47
    sub_policy(0.8, Equalize, 8, 0.7, Equalize, 7),     // 48
    sub_policy(0.7, Equalize, 7, 0.5, Solarize, 0),     // 49
    sub_policy(0.8, Equalize, 4, 0.8, TranslateY, 9),   // 50
    sub_policy(0.8, TranslateY, 9, 0.6, TranslateY, 9), // 51
    sub_policy(0.9, TranslateY, 0, 0.5, TranslateY, 9), // 52
    sub_policy(0.5, AutoContrast, 3, 0.3, Solarize, 4), // 53
    sub_policy(0.5, Solarize, 3, 0.4, Equalize, 4),     // 54
    sub_policy(0.7, Color, 7, 0.5, TranslateX, 8),      // 55
    sub_policy(0.3, Equalize, 7, 0.4, AutoContrast, 8), // 56
    sub_policy(0.4, TranslateY, 3, 0.2, Sharpness, 6),  // 57
    sub_policy(0.9, Brightness, 6, 0.2, Color, 8),      // 58
    sub_policy(0.5, Solarize, 2, 0.0, Invert, 3),       // 59
    sub_policy(0.1, AutoContrast, 5, 0.0, Brightness, 0), // 60
    sub_policy(0.2, Cutout, 4, 0.1, Equalize, 1),       // 61
    sub_policy(0.7, Equalize, 7, 0.6, AutoContrast, 4), // 62
    sub_policy(0.1, Color, 8, 0.2, ShearY, 3),          // 63
    sub_policy(0.4, ShearY, 2, 0.7, Rotate, 0),         // 64
    sub_policy(0.1, ShearY, 3, 0.9, AutoContrast, 5),   // 65
    sub_policy(0.3, TranslateY, 6, 0.3, Cutout, 3),     // 66
    sub_policy(0.5, Equalize, 0, 0.6, Solarize, 6),     // 67
    sub_policy(0.3, AutoContrast, 5, 0.2, Rotate, 7),   // 68
    sub_policy(0.8, Equalize, 2, 0.4, Invert, 0),       // 69
    sub_policy(0.9, Equalize, 5, 0.7, Color, 0),        // 70
    sub_policy(0.1, Equalize, 1, 0.1, ShearY, 3),       // 71
    sub_policy(0.7, AutoContrast, 3, 0.7, Equalize, 0), // 72
    sub_policy(0.5, Brightness, 1, 0.1, Contrast, 7),   // 73
    sub_policy(0.1, Contrast, 4, 0.6, Solarize, 5),     // 74
    sub_policy(0.2, Solarize, 3, 0.0, ShearX, 0),       // 75
    sub_policy(0.3, TranslateX, 0, 0.6, TranslateX, 0), // 76
    sub_policy(0.5, Equalize, 9, 0.6, TranslateY, 7),   // 77
    sub_policy(0.1, ShearX, 0, 0.5, Sharpness, 1),      // 78
    sub_policy(0.8, Equalize, 6, 0.3, Invert, 6),       // 79
    sub_policy(0.3, AutoContrast, 9, 0.5, Cutout, 3),   // 80
    sub_policy(0.4, ShearX, 4, 0.9, AutoContrast, 2),   // 81
    sub_policy(0.0, ShearX, 3, 0.0, Posterize, 3),      // 82
    sub_policy(0.4, Solarize, 3, 0.2, Color, 4),        // 83
    sub_policy(0.1, Equalize, 4, 0.7, Equalize, 6),     // 84
    sub_policy(0.3, Equalize, 8, 0.4, AutoContrast, 3), // 85
    sub_policy(0.6, Solarize, 4, 0.7, AutoContrast, 6), // 86
    sub_policy(0.2, AutoContrast, 9, 0.4, Brightness, 8), // 87
    sub_policy(0.1, Equalize, 0, 0.0, Equalize, 6),     // 88
    sub_policy(0.8, Equalize, 4, 0.0, Equalize, 4),     // 89
    sub_policy(0.5, Equalize, 5, 0.1, AutoContrast, 2), // 90
    sub_policy(0.5, Solarize, 5, 0.9, AutoContrast, 5), // 91
    sub_policy(0.6, AutoContrast, 1, 0.7, AutoContrast, 8), // 92
    sub_policy(0.2, Equalize, 0, 0.1, AutoContrast, 2), // 93
    sub_policy(0.6, Equalize, 9, 0.4, Equalize, 4),     // 94
];

/// The ImageNet policy. Its last four sub-policies repeat sub-policies 4, 1,
/// 13 and 14, which doubles their chance of being picked.
pub const IMAGENET_POLICY: [SubPolicy; 24] = [
    sub_policy(0.4, Posterize, 8, 0.6, Rotate, 9),      // 0
    sub_policy(0.6, Solarize, 5, 0.6, AutoContrast, 5), // 1
    sub_policy(0.8, Equalize, 8, 0.6, Equalize, 3),     // 2
    sub_policy(0.6, Posterize, 7, 0.6, Posterize, 6),   // 3
    sub_policy(0.4, Equalize, 7, 0.2, Solarize, 4),     // 4
    sub_policy(0.4, Equalize, 4, 0.8, Rotate, 8),       // 5
    sub_policy(0.6, Solarize, 3, 0.6, Equalize, 7),     // 6
    sub_policy(0.8, Posterize, 5, 1.0, Equalize, 2),    // 7
    sub_policy(0.2, Rotate, 3, 0.6, Solarize, 8),       // 8
    sub_policy(0.6, Equalize, 8, 0.4, Posterize, 6),    // 9
    sub_policy(0.8, Rotate, 8, 0.4, Color, 0),          // 10
    sub_policy(0.4, Rotate, 9, 0.6, Equalize, 2),       // 11
    sub_policy(0.0, Equalize, 7, 0.8, Equalize, 8),     // 12
    sub_policy(0.6, Invert, 4, 1.0, Equalize, 8),       // 13
    sub_policy(0.6, Color, 4, 1.0, Contrast, 8),        // 14
    sub_policy(0.8, Rotate, 8, 1.0, Color, 2),          // 15
    sub_policy(0.8, Color, 8, 0.8, Solarize, 7),        // 16
    sub_policy(0.4, Sharpness, 7, 0.6, Invert, 8),      // 17
    sub_policy(0.6, ShearX, 5, 1.0, Equalize, 9),       // 18
    sub_policy(0.4, Color, 0, 0.6, Equalize, 3),        // 19
    sub_policy(0.4, Equalize, 7, 0.2, Solarize, 4),     // 20
    sub_policy(0.6, Solarize, 5, 0.6, AutoContrast, 5), // 21
    sub_policy(0.6, Invert, 4, 1.0, Equalize, 8),       // 22
    sub_policy(0.6, Color, 4, 1.0, Contrast, 8),        // 23
];
