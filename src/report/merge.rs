//! `podclean report merge OUT`: the shard reports of one split, combined into the report one
//! unsharded run would have written — only when that is true: every shard of a single split
//! present, none still running or interrupted, made with the same settings. Anything else is
//! refused with the reason, because a merged report that looks complete but is not is worse
//! than none.

use std::collections::{BTreeMap, BTreeSet};

use super::{BatchReport, FileReport};
use crate::fsutil::{io_reason, OutDir};
use crate::state::{lock, Shard};

/// Combines the shard reports in `out`; the error says why a merge would be wrong.
pub fn merge(out: &OutDir) -> Result<BatchReport, String> {
    let names = out
        .names()
        .map_err(|e| format!("cannot read {}: {}", out.path().display(), io_reason(&e)))?;
    let mut by_split: BTreeMap<u32, BTreeMap<u32, String>> = BTreeMap::new();
    for name in names {
        let name = name.to_string_lossy().into_owned();
        if let Some(shard) = Shard::of_report_name(&name) {
            by_split.entry(shard.count).or_default().insert(shard.index, name);
        }
    }
    let (count, shards) = match by_split.len() {
        0 => {
            return Err(format!(
                "no shard reports (podclean-report.K-of-N.json) in {}",
                out.path().display()
            ))
        }
        1 => by_split.into_iter().next().unwrap_or_default(),
        _ => {
            let splits: Vec<String> = by_split
                .iter()
                .map(|(n, shards)| format!("{} of {n} shards", shards.len()))
                .collect();
            return Err(format!(
                "{} holds reports of different splits ({}): remove the stale ones, then merge",
                out.path().display(),
                splits.join(", ")
            ));
        }
    };
    let missing: Vec<String> = (1..=count)
        .filter(|k| !shards.contains_key(k))
        .map(|k| format!("{k}/{count}"))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "shard{} {} of {count} ha{} no report yet: run {} first",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", "),
            if missing.len() == 1 { "s" } else { "ve" },
            if missing.len() == 1 { "it" } else { "them" }
        ));
    }
    if lock::is_running(out).map_err(|e| e.to_string())? {
        return Err(format!(
            "a podclean run is still writing to {}: merge when every shard has finished",
            out.path().display()
        ));
    }
    let mut reports = Vec::new();
    for (k, name) in &shards {
        let bytes = out
            .read(std::ffi::OsStr::new(name))
            .map_err(|e| format!("cannot read {name}: {}", io_reason(&e)))?;
        let report: BatchReport =
            serde_json::from_slice(&bytes).map_err(|e| format!("{name} is not a podclean report: {e}"))?;
        if report.interrupted {
            return Err(format!(
                "shard {k}/{count} was interrupted ({name}): run it again, then merge"
            ));
        }
        if report.shard.as_deref().is_some_and(|s| s != format!("{k}/{count}")) {
            return Err(format!(
                "{name} says it is shard {}, not {k}/{count}",
                report.shard.as_deref().unwrap_or("?")
            ));
        }
        reports.push(report);
    }
    let first = &reports[0];
    if let Some(other) = reports.iter().find(|r| {
        r.settings != first.settings
            || r.mode != first.mode
            || r.bit_depth != first.bit_depth
            || r.podclean_version != first.podclean_version
    }) {
        return Err(format!(
            "shard reports were made with different settings, modes or versions ({} vs {}); merge refused",
            first.settings.name, other.settings.name
        ));
    }
    let mode = first.mode.clone();
    let settings = first.settings.clone();
    let bit_depth = first.bit_depth.clone();
    // Every shard walks the same tree: ignored paths repeat, files must not.
    let mut ignored = BTreeMap::new();
    let mut files: BTreeMap<String, FileReport> = BTreeMap::new();
    let mut duplicated = BTreeSet::new();
    for report in reports {
        for entry in report.ignored {
            ignored.entry(entry.path.clone()).or_insert(entry);
        }
        for file in report.files {
            if files.contains_key(&file.input) {
                duplicated.insert(file.input.clone());
            } else {
                files.insert(file.input.clone(), file);
            }
        }
    }
    if let Some(input) = duplicated.iter().next() {
        return Err(format!(
            "{input} appears in more than one shard report ({} such files): the reports are not one split of one tree",
            duplicated.len()
        ));
    }
    Ok(BatchReport::new(
        &mode,
        settings,
        bit_depth,
        files.into_values().collect(),
        ignored.into_values().collect(),
    ))
}
