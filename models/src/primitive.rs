//! Candidate operations ("primitives") that a genotype edge can name.

use std::fmt;
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
