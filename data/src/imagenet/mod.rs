//! ImageNet in the ImageFolder layout that torchvision's `ImageFolder`
//! reads: `<root>/train/<class>/<image>` and `<root>/val/<class>/<image>`,
//! one folder per class named by its synset id (such as `n01443537`).
//!
//! Classes are the folder names in sorted order, as in [`image_folder`], and
//! both splits must contain the same class folders. Images stay on disk:
//! [`crate::FileBatches`] decodes them batch by batch with the transforms of
//! [`transform`]. An optional class table ([`ClassTable`],
//! `imagenet_classes.tsv` in the root) supplies human-readable names.

mod class_table;
pub mod transform;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::image_folder::{self, ImageFiles};
use crate::{DataError, Result};

pub use class_table::{ClassEntry, ClassTable};
pub use transform::{CropBox, EvalTransform, RandomResizedCrop, TrainParams, TrainTransform};

/// File name of the class table that [`ImageNet::open`] looks for in the root.
pub const CLASS_TABLE_FILE: &str = "imagenet_classes.tsv";

/// Class names listed one by one in a class mismatch error; the rest are counted.
const MAX_LISTED_CLASSES: usize = 10;

/// An ImageNet split: the training images or the validation images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Val,
}

impl Split {
    /// Folder name of the split under the root.
    pub fn folder_name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
        }
    }

    fn other(self) -> Split {
        match self {
            Split::Train => Split::Val,
            Split::Val => Split::Train,
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.folder_name())
    }
}

impl FromStr for Split {
    type Err = DataError;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "train" => Ok(Split::Train),
            "val" => Ok(Split::Val),
            other => Err(DataError::InvalidArgument {
                name: "split",
                value: other.to_string(),
                fix: "use `train` or `val`".to_string(),
            }),
        }
    }
}

/// Both splits of an ImageNet folder, listed but not decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageNet {
    pub root: PathBuf,
    pub train: ImageFiles,
    pub val: ImageFiles,
    /// The class table found in the root, if any.
    pub class_table: Option<ClassTable>,
}

impl ImageNet {
    /// Lists `root/train` and `root/val`, checks that they contain the same
    /// class folders, and reads `root/imagenet_classes.tsv` when it exists.
    pub fn open(root: &Path) -> Result<Self> {
        check_root(root, &[Split::Train, Split::Val])?;
        check_same_classes(root)?;
        let train = image_folder::scan(&root.join(Split::Train.folder_name()))?;
        let val = image_folder::scan(&root.join(Split::Val.folder_name()))?;
        let class_table = ClassTable::find(root)?;
        Ok(Self {
            root: root.to_path_buf(),
            train,
            val,
            class_table,
        })
    }

    /// Replaces the class table with the one read from `path`.
    pub fn with_class_table(mut self, path: &Path) -> Result<Self> {
        self.class_table = Some(ClassTable::read(path)?);
        Ok(self)
    }

    /// Returns the class folder names in label order.
    pub fn classes(&self) -> &[String] {
        &self.train.classes
    }

    /// Returns the image files of `split`.
    pub fn split(&self, split: Split) -> &ImageFiles {
        match split {
            Split::Train => &self.train,
            Split::Val => &self.val,
        }
    }

    /// Returns a display name per class in label order: the table's name, or
    /// the folder name for a class that the table does not list or when
    /// there is no table.
    pub fn class_names(&self) -> Vec<String> {
        let name = |class: &String| match &self.class_table {
            Some(table) => table.display_name(class).to_string(),
            None => class.clone(),
        };
        self.classes().iter().map(name).collect()
    }
}

/// Lists one split of the ImageNet folder `root` without scanning the other.
///
/// When the other split folder also exists, its class folders must be the
/// same, because labels are positions in the sorted class list.
pub fn open_split(root: &Path, split: Split) -> Result<ImageFiles> {
    check_root(root, &[split])?;
    if root.join(split.other().folder_name()).is_dir() {
        check_same_classes(root)?;
    }
    image_folder::scan(&root.join(split.folder_name()))
}

fn check_root(root: &Path, splits: &[Split]) -> Result<()> {
    if !root.exists() {
        return Err(DataError::NotFound {
            path: root.to_path_buf(),
        });
    }
    if !root.is_dir() {
        return Err(not_imagenet(root, "it is not a folder".to_string()));
    }
    let missing: Vec<String> = splits
        .iter()
        .filter(|split| !root.join(split.folder_name()).is_dir())
        .map(|split| format!("{split}/"))
        .collect();
    if !missing.is_empty() {
        let reason = format!("{} not found", missing.join(" and "));
        return Err(not_imagenet(root, reason));
    }
    Ok(())
}

fn not_imagenet(root: &Path, reason: String) -> DataError {
    DataError::NotImageNet {
        dir: root.to_path_buf(),
        reason: format!("{reason}; expected train/<class>/ and val/<class>/ folders of images"),
    }
}

/// Checks that `root/train` and `root/val` contain the same class folders.
fn check_same_classes(root: &Path) -> Result<()> {
    let train_dir = root.join(Split::Train.folder_name());
    let val_dir = root.join(Split::Val.folder_name());
    let train = image_folder::list_classes(&train_dir)?;
    let val = image_folder::list_classes(&val_dir)?;
    if train == val {
        return Ok(());
    }
    let only_train: Vec<&str> = missing_from(&train, &val);
    let only_val: Vec<&str> = missing_from(&val, &train);
    let mut parts = Vec::new();
    if !only_train.is_empty() {
        parts.push(format!("only in train: {}", list_names(&only_train)));
    }
    if !only_val.is_empty() {
        parts.push(format!("only in val: {}", list_names(&only_val)));
    }
    Err(DataError::SplitClassMismatch {
        train: train_dir,
        val: val_dir,
        difference: parts.join("; "),
    })
}

/// Returns the names of sorted `names` that sorted `other` lacks.
fn missing_from<'a>(names: &'a [String], other: &[String]) -> Vec<&'a str> {
    names
        .iter()
        .filter(|name| other.binary_search(name).is_err())
        .map(String::as_str)
        .collect()
}

/// Joins the first [`MAX_LISTED_CLASSES`] names and counts the rest.
fn list_names(names: &[&str]) -> String {
    let listed = names[..names.len().min(MAX_LISTED_CLASSES)].join(", ");
    if names.len() > MAX_LISTED_CLASSES {
        format!("{listed} and {} more", names.len() - MAX_LISTED_CLASSES)
    } else {
        listed
    }
}
