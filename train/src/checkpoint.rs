//! Network weights as safetensors files, keyed by the graph's parameter names
//! (BatchNorm running statistics included), so the ONNX exporter and PyTorch
//! read them by the same names.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tch::nn::VarStore;
use tch::Tensor;

use crate::TrainError;

/// Saves every variable of `vs` to `path` atomically.
///
/// The tensors go to `<stem>.tmp.safetensors` in the same folder, which is
/// flushed to disk and renamed over `path`, so a reader never sees a partial
/// file and an interrupted save keeps the previous checkpoint.
pub fn save(vs: &VarStore, path: &Path) -> Result<(), TrainError> {
    let temporary = temporary_path(path);
    let write_error = |source| TrainError::Write {
        path: path.display().to_string(),
        source,
    };
    let outcome = vs
        .save(&temporary)
        .map_err(TrainError::from)
        .and_then(|()| {
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

/// `weights.safetensors` becomes `weights.tmp.safetensors`: tch picks the file
/// format from the extension, so the temporary name keeps it.
fn temporary_path(path: &Path) -> PathBuf {
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!("{stem}.tmp.safetensors"))
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
