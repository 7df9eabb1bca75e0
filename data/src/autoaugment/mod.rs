//! AutoAugment: per image, one sub-policy picked uniformly from a learned
//! policy, whose two steps each apply an image operation with their own
//! probability.
//!
//! [`ops`] implements the operations with the semantics of the PIL calls in
//! the published code, and [`policy`] contains the magnitude scale and the
//! CIFAR-10 and ImageNet policies. The published code draws from Python's
//! `random` module and NumPy without seeding them. Here every draw comes
//! from the caller's generator, so a run seeded the same way augments the
//! same way.

pub mod ops;
pub mod policy;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::image::RgbImage;

pub use policy::{
    AppliedStep, Operation, Step, SubPolicy, CIFAR10_POLICY, IMAGENET_POLICY, MAGNITUDE_LEVELS,
};

/// A learned AutoAugment policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// [`CIFAR10_POLICY`], 95 sub-policies, for 32 x 32 CIFAR images.
    Cifar10,
    /// [`IMAGENET_POLICY`], 24 sub-policies, for ImageNet training crops.
    ImageNet,
}

impl Policy {
    /// Returns the sub-policies that [`AutoAugment`] picks from.
    pub fn sub_policies(self) -> &'static [SubPolicy] {
        match self {
            Policy::Cifar10 => &CIFAR10_POLICY,
            Policy::ImageNet => &IMAGENET_POLICY,
        }
    }
}

/// The AutoAugment transform of one policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AutoAugment {
    pub policy: Policy,
}

/// The random choices of [`AutoAugment`] for one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AutoAugmentParams {
    /// Index of the picked sub-policy in its policy.
    pub sub_policy: usize,
    /// The sub-policy's two steps in order, `None` where the probability
    /// draw skipped the step.
    pub steps: [Option<AppliedStep>; 2],
}

impl AutoAugment {
    /// AutoAugment with the CIFAR-10 policy.
    pub const CIFAR10: AutoAugment = AutoAugment {
        policy: Policy::Cifar10,
    };

    /// AutoAugment with the ImageNet policy.
    pub const IMAGENET: AutoAugment = AutoAugment {
        policy: Policy::ImageNet,
    };

    /// Draws the choices for one image: the sub-policy index uniformly,
    /// then the steps as [`SubPolicy::sample`] draws them.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> AutoAugmentParams {
        let sub_policies = self.policy.sub_policies();
        let sub_policy = rng.random_range(0..sub_policies.len());
        AutoAugmentParams {
            sub_policy,
            steps: sub_policies[sub_policy].sample(rng),
        }
    }

    /// Draws the choices for `image` from `rng` and applies them.
    pub fn apply<R: Rng + ?Sized>(&self, image: &RgbImage, rng: &mut R) -> RgbImage {
        self.sample(rng).apply(image)
    }
}

impl AutoAugmentParams {
    /// Applies the selected steps to `image` in order.
    pub fn apply(&self, image: &RgbImage) -> RgbImage {
        let mut out = image.clone();
        for step in self.steps.iter().flatten() {
            out = step.apply(&out);
        }
        out
    }
}
