//! The ImageNet class list as a tab-separated table: an optional header line
//! `index<TAB>synset<TAB>name`, then one line per class such as
//! `1<TAB>n01443537<TAB>goldfish`. It maps the synset ids that name the class
//! folders to human-readable names for display.

use std::collections::HashMap;
use std::path::Path;

use crate::{DataError, Result};

/// One row of a [`ClassTable`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassEntry {
    /// Class index in the table (the ImageNet-1k label for the standard list).
    pub index: usize,
    /// WordNet synset id, such as `n01443537`.
    pub synset: String,
    /// Human-readable class name, such as `goldfish`.
    pub name: String,
}

/// Class names by synset id, read from a tab-separated class list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassTable {
    entries: Vec<ClassEntry>,
    by_synset: HashMap<String, usize>,
}

impl ClassTable {
    /// Reads and parses the table at `path`, see [`ClassTable::parse`].
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
        Self::parse(&text, path)
    }

    /// Parses table text; `path` names the source in errors.
    ///
    /// Blank lines are ignored, and so is a first line whose first field is
    /// `index` (the header). Every other line needs three tab-separated
    /// fields: a decimal index, a synset id and a name, neither empty.
    /// Indices and synset ids must be unique. Entries are kept in index
    /// order.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let mut entries = Vec::new();
        let mut first = true;
        for (number, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() {
                continue;
            }
            let is_header = first && line.split('\t').next() == Some("index");
            first = false;
            if !is_header {
                entries.push(parse_line(line, number + 1, path)?);
            }
        }
        Self::from_entries(entries, path)
    }

    fn from_entries(mut entries: Vec<ClassEntry>, path: &Path) -> Result<Self> {
        if entries.is_empty() {
            return Err(invalid(path, "it contains no classes"));
        }
        entries.sort_by_key(|entry| entry.index);
        if let Some(pair) = entries
            .windows(2)
            .find(|pair| pair[0].index == pair[1].index)
        {
            let reason = format!("index {} appears more than once", pair[0].index);
            return Err(invalid(path, reason));
        }
        let mut by_synset = HashMap::with_capacity(entries.len());
        for (position, entry) in entries.iter().enumerate() {
            if by_synset.insert(entry.synset.clone(), position).is_some() {
                let reason = format!("synset {} appears more than once", entry.synset);
                return Err(invalid(path, reason));
            }
        }
        Ok(Self { entries, by_synset })
    }

    /// Looks for the standard class list file (`imagenet_classes.tsv`) in
    /// `dir` and reads it; `None` when `dir` contains no such file.
    pub fn find(dir: &Path) -> Result<Option<Self>> {
        let path = dir.join(super::CLASS_TABLE_FILE);
        if !path.is_file() {
            return Ok(None);
        }
        Self::read(&path).map(Some)
    }

    /// Returns the entry of `synset`, if the table lists it.
    pub fn get(&self, synset: &str) -> Option<&ClassEntry> {
        self.by_synset.get(synset).map(|&i| &self.entries[i])
    }

    /// Returns the human-readable name of `synset`, if the table lists it.
    pub fn name(&self, synset: &str) -> Option<&str> {
        self.get(synset).map(|entry| entry.name.as_str())
    }

    /// Returns the human-readable name of `synset`, or `synset` itself when
    /// the table does not list it.
    pub fn display_name<'a>(&'a self, synset: &'a str) -> &'a str {
        self.name(synset).unwrap_or(synset)
    }

    /// Returns every entry in index order.
    pub fn entries(&self) -> &[ClassEntry] {
        &self.entries
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

fn parse_line(line: &str, number: usize, path: &Path) -> Result<ClassEntry> {
    let fields: Vec<&str> = line.split('\t').collect();
    let [index, synset, name] = fields.as_slice() else {
        let reason = format!("found {} tab-separated fields instead of 3", fields.len());
        return Err(invalid_line(path, number, reason));
    };
    let index = index.trim().parse::<usize>().map_err(|_| {
        let reason = format!("index {index:?} is not a non-negative integer");
        invalid_line(path, number, reason)
    })?;
    let (synset, name) = (synset.trim(), name.trim());
    if synset.is_empty() || name.is_empty() {
        return Err(invalid_line(
            path,
            number,
            "the synset or the name is empty",
        ));
    }
    Ok(ClassEntry {
        index,
        synset: synset.to_string(),
        name: name.to_string(),
    })
}

fn invalid(path: &Path, reason: impl Into<String>) -> DataError {
    DataError::InvalidClassTable {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn invalid_line(path: &Path, line: usize, reason: impl std::fmt::Display) -> DataError {
    invalid(path, format!("line {line}: {reason}"))
}
