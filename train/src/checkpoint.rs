//! Network weights as safetensors files, keyed by the graph's parameter names
//! (BatchNorm running statistics included), so the ONNX exporter and PyTorch
//! read them by the same names.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use tch::nn::VarStore;
use tch::Tensor;

use crate::TrainError;

/// Saves every variable of `vs` to `path` atomically (see [`write_tensors`]).
pub fn save(vs: &VarStore, path: &Path) -> Result<(), TrainError> {
    write_atomically(path, |temporary| Ok(vs.save(temporary)?))
}

/// Writes `tensors` to the safetensors file `path` atomically.
///
/// The tensors go to `<stem>.tmp.safetensors` in the same folder, which is
/// flushed to disk and renamed over `path`, so a reader never sees a partial
/// file and an interrupted save keeps the previous file.
pub fn write_tensors(tensors: &[(String, Tensor)], path: &Path) -> Result<(), TrainError> {
    write_atomically(path, |temporary| {
        Ok(Tensor::write_safetensors(tensors, temporary)?)
    })
}

fn write_atomically(
    path: &Path,
    write: impl FnOnce(&Path) -> Result<(), TrainError>,
) -> Result<(), TrainError> {
    let temporary = temporary_path(path);
    let write_error = |source| TrainError::Write {
        path: path.display().to_string(),
        source,
    };
    let outcome = write(&temporary).and_then(|()| {
        std::fs::File::open(&temporary)
            .and_then(|file| file.sync_all())
            .and_then(|()| std::fs::rename(&temporary, path))
            .map_err(write_error)
    });
    if outcome.is_err() {
        // Best effort: the error that matters is the one returned.
        let _ = std::fs::remove_file(&temporary);
    }
    outcome
}

/// End of the name of a file that [`save`] or [`write_tensors`] is writing;
/// one that is left over was interrupted and can be deleted.
pub const TEMPORARY_SUFFIX: &str = ".tmp.safetensors";

/// `weights.safetensors` becomes `weights.tmp.safetensors`: tch picks the file
/// format from the extension, so the temporary name keeps it.
fn temporary_path(path: &Path) -> PathBuf {
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!("{stem}{TEMPORARY_SUFFIX}"))
}

/// Reads every tensor of the safetensors file `path`, on the CPU.
pub fn read_tensors(path: &Path) -> Result<HashMap<String, Tensor>, TrainError> {
    Ok(Tensor::read_safetensors(path)?.into_iter().collect())
}

/// Copies `tensors["<prefix><name>"]` into each `(name, target)` of `targets`,
/// on the target's device. It first checks that every tensor is present with
/// the target's shape, so a mismatch changes nothing.
pub fn copy_into(
    targets: &[(String, Tensor)],
    tensors: &HashMap<String, Tensor>,
    prefix: &str,
    path: &Path,
) -> Result<(), TrainError> {
    let mismatch = |message: String| TrainError::CheckpointMismatch {
        path: path.display().to_string(),
        message,
    };
    for (name, target) in targets {
        let key = format!("{prefix}{name}");
        let stored = tensors
            .get(&key)
            .ok_or_else(|| mismatch(format!("tensor {key} is missing")))?;
        if stored.size() != target.size() {
            return Err(mismatch(format!(
                "{key} has shape {:?} in the file but {:?} in the network",
                stored.size(),
                target.size()
            )));
        }
    }
    tch::no_grad(|| -> Result<(), TrainError> {
        for (name, target) in targets {
            let stored = &tensors[&format!("{prefix}{name}")];
            target.shallow_clone().f_copy_(stored)?;
        }
        Ok(())
    })
}

/// Loads `path` into the variables of `vs`.
///
/// The file must hold exactly the variables of `vs` with the same shapes;
/// otherwise nothing is changed and the error lists the differences.
pub fn load(vs: &mut VarStore, path: &Path) -> Result<(), TrainError> {
    let tensors: BTreeMap<String, Tensor> = Tensor::read_safetensors(path)?.into_iter().collect();
    let variables = vs.variables();
    check_match(&variables, &tensors).map_err(|message| TrainError::CheckpointMismatch {
        path: path.display().to_string(),
        message,
    })?;
    tch::no_grad(|| -> Result<(), TrainError> {
        for (name, variable) in &variables {
            let mut variable = variable.shallow_clone();
            variable.f_copy_(&tensors[name])?;
        }
        Ok(())
    })
}

/// Describes missing, unexpected and reshaped tensors, at most a few of each.
fn check_match(
    variables: &std::collections::HashMap<String, Tensor>,
    tensors: &BTreeMap<String, Tensor>,
) -> Result<(), String> {
    const SHOWN: usize = 5;
    let mut missing: Vec<&str> = variables
        .keys()
        .filter(|name| !tensors.contains_key(*name))
        .map(String::as_str)
        .collect();
    missing.sort_unstable();
    let unexpected: Vec<&str> = tensors
        .keys()
        .filter(|name| !variables.contains_key(*name))
        .map(String::as_str)
        .collect();
    let mut reshaped: Vec<String> = variables
        .iter()
        .filter_map(|(name, variable)| {
            let stored = tensors.get(name)?;
            (stored.size() != variable.size()).then(|| {
                format!(
                    "{name} is {:?} in the file, {:?} in the network",
                    stored.size(),
                    variable.size()
                )
            })
        })
        .collect();
    reshaped.sort_unstable();

    let mut problems = Vec::new();
    let mut describe = |what: &str, items: Vec<String>| {
        if !items.is_empty() {
            let shown = items
                .iter()
                .take(SHOWN)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            let more = items.len().saturating_sub(SHOWN);
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            problems.push(format!("{} {what} ({shown}{more})", items.len()));
        }
    };
    describe("missing", missing.iter().map(|s| s.to_string()).collect());
    describe(
        "unexpected",
        unexpected.iter().map(|s| s.to_string()).collect(),
    );
    describe("with another shape", reshaped);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}; was it saved from a network with another genotype or configuration?",
            problems.join("; ")
        ))
    }
}
