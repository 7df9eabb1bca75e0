//! Candidate operations ("primitives") that a genotype edge can name.

use std::fmt;
#[cfg(test)]
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ModelError;

/// One operation of the sharpDARTS operation table, by its genotype name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Primitive {
    None,
    MaxPool3x3,
    AvgPool3x3,
    SkipConnect,
    SepConv3x3,
    SepConv5x5,
    SepConv7x7,
    DilConv3x3,
    DilConv5x5,
    FloodConv3x3,
    FloodConv5x5,
    DilFloodConv3x3,
    ChokeConv3x3,
    DilChokeConv3x3,
    Conv7x1_1x7,
}

impl Primitive {
    /// Every primitive this crate can build, in a fixed order.
    pub const ALL: [Primitive; 15] = [
        Primitive::None,
        Primitive::MaxPool3x3,
        Primitive::AvgPool3x3,
        Primitive::SkipConnect,
        Primitive::SepConv3x3,
        Primitive::SepConv5x5,
        Primitive::SepConv7x7,
        Primitive::DilConv3x3,
        Primitive::DilConv5x5,
        Primitive::FloodConv3x3,
        Primitive::FloodConv5x5,
        Primitive::DilFloodConv3x3,
        Primitive::ChokeConv3x3,
        Primitive::DilChokeConv3x3,
        Primitive::Conv7x1_1x7,
    ];

    /// Returns the genotype name, e.g. `sep_conv_3x3`.
    pub fn name(self) -> &'static str {
        match self {
            Primitive::None => "none",
            Primitive::MaxPool3x3 => "max_pool_3x3",
            Primitive::AvgPool3x3 => "avg_pool_3x3",
            Primitive::SkipConnect => "skip_connect",
            Primitive::SepConv3x3 => "sep_conv_3x3",
            Primitive::SepConv5x5 => "sep_conv_5x5",
            Primitive::SepConv7x7 => "sep_conv_7x7",
            Primitive::DilConv3x3 => "dil_conv_3x3",
            Primitive::DilConv5x5 => "dil_conv_5x5",
            Primitive::FloodConv3x3 => "flood_conv_3x3",
            Primitive::FloodConv5x5 => "flood_conv_5x5",
            Primitive::DilFloodConv3x3 => "dil_flood_conv_3x3",
            Primitive::ChokeConv3x3 => "choke_conv_3x3",
            Primitive::DilChokeConv3x3 => "dil_choke_conv_3x3",
            Primitive::Conv7x1_1x7 => "conv_7x1_1x7",
        }
    }

    /// True for operations without weights: skip, pools and none.
    pub fn is_parameter_free(self) -> bool {
        matches!(
            self,
            Primitive::None
                | Primitive::MaxPool3x3
                | Primitive::AvgPool3x3
                | Primitive::SkipConnect
        )
    }
}

impl fmt::Display for Primitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Primitive {
    type Err = ModelError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Primitive::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| ModelError::UnknownPrimitive(name.to_string()))
    }
}

impl Serialize for Primitive {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Primitive {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// Lists the known primitive names, for error messages.
pub fn known_names() -> String {
    Primitive::ALL.map(Primitive::name).join(", ")
}

/// A published search space: the candidate operations of every edge, in the
/// index order of the architecture weights' columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PrimitiveSet {
    /// `PRIMITIVES`, the sharpDARTS space (9 operations, no average pool).
    Sharp,
    /// `SHARPER_PRIMITIVES` (12 operations).
    Sharper,
    /// `DARTS_PRIMITIVES`, the original DARTS space (8 operations).
    Darts,
    /// `MULTICHANNELNET_PRIMITIVES`: the two operations of the MultiChannelNet
    /// grid search, in the published code's current order.
    MultiChannelNet,
}

impl PrimitiveSet {
    pub const ALL: [PrimitiveSet; 4] = [
        PrimitiveSet::Sharp,
        PrimitiveSet::Sharper,
        PrimitiveSet::Darts,
        PrimitiveSet::MultiChannelNet,
    ];

    /// Returns the published name, e.g. `DARTS_PRIMITIVES`.
    pub fn name(self) -> &'static str {
        match self {
            PrimitiveSet::Sharp => "PRIMITIVES",
            PrimitiveSet::Sharper => "SHARPER_PRIMITIVES",
            PrimitiveSet::Darts => "DARTS_PRIMITIVES",
            PrimitiveSet::MultiChannelNet => "MULTICHANNELNET_PRIMITIVES",
        }
    }

    /// Operation names in index order.
    pub fn op_names(self) -> Vec<&'static str> {
        match self.cell_primitives() {
            Some(primitives) => primitives.iter().map(|p| p.name()).collect(),
            None => vec!["ResizablePool", "SharpSepConv"],
        }
    }

    /// Cell operations in index order; `None` for the MultiChannelNet set,
    /// whose operations change the channel count and are not cell edges.
    pub fn cell_primitives(self) -> Option<&'static [Primitive]> {
        use Primitive::*;
        match self {
            PrimitiveSet::Sharp => Some(&[
                None,
                MaxPool3x3,
                SkipConnect,
                SepConv3x3,
                DilConv3x3,
                FloodConv3x3,
                DilFloodConv3x3,
                ChokeConv3x3,
                DilChokeConv3x3,
            ]),
            PrimitiveSet::Sharper => Some(&[
                None,
                MaxPool3x3,
                AvgPool3x3,
                SkipConnect,
                SepConv3x3,
                SepConv5x5,
                SepConv7x7,
                DilConv3x3,
                DilConv5x5,
                FloodConv3x3,
                FloodConv5x5,
                DilFloodConv3x3,
            ]),
            PrimitiveSet::Darts => Some(&[
                None,
                MaxPool3x3,
                AvgPool3x3,
                SkipConnect,
                SepConv3x3,
                SepConv5x5,
                DilConv3x3,
                DilConv5x5,
            ]),
            PrimitiveSet::MultiChannelNet => Option::None,
        }
    }
}

impl fmt::Display for PrimitiveSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for PrimitiveSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for PrimitiveSet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

impl FromStr for PrimitiveSet {
    type Err = ModelError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        PrimitiveSet::ALL
            .into_iter()
            .find(|set| set.name() == value)
            .ok_or_else(|| ModelError::InvalidConfig {
                option: "primitives".to_string(),
                value: value.to_string(),
                fix: format!(
                    "use one of {}",
                    PrimitiveSet::ALL.map(PrimitiveSet::name).join(", ")
                ),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads the published primitive sets from the reference genotype table,
    /// when it is present beside the repository.
    fn reference_sets() -> Option<serde_json::Value> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let path = root.join("shared/reference/genotypes.json");
        let text = std::fs::read_to_string(path).ok()?;
        let json: serde_json::Value = serde_json::from_str(&text).ok()?;
        Some(json["primitive_sets"].clone())
    }

    #[test]
    fn sets_match_the_published_order() {
        let Some(sets) = reference_sets() else {
            eprintln!("reference genotype table not found; skipped");
            return;
        };
        for set in PrimitiveSet::ALL {
            let published: Vec<&str> = sets[set.name()]
                .as_array()
                .unwrap_or_else(|| panic!("{set} missing"))
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            assert_eq!(set.op_names(), published, "{set}");
        }
    }

    #[test]
    fn sizes_and_names() {
        let sizes = PrimitiveSet::ALL.map(|set| set.op_names().len());
        assert_eq!(sizes, [9, 12, 8, 2]);
        for set in PrimitiveSet::ALL {
            assert_eq!(set.name().parse::<PrimitiveSet>().unwrap(), set);
        }
        let json = serde_json::to_string(&PrimitiveSet::Darts).unwrap();
        assert_eq!(json, "\"DARTS_PRIMITIVES\"");
        assert_eq!(
            serde_json::from_str::<PrimitiveSet>(&json).unwrap(),
            PrimitiveSet::Darts
        );
        let message = "primitives"
            .parse::<PrimitiveSet>()
            .unwrap_err()
            .to_string();
        assert!(message.contains("DARTS_PRIMITIVES"), "{message}");
    }
}
