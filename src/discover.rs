//! Which files to process and where their outputs go: walks the inputs (walkdir), mirrors the
//! tree below the output root, never walks the output root itself, and resolves name clashes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use walkdir::WalkDir;

/// Extensions podclean treats as audio (lower case). Anything else is ignored and counted.
/// Formats symphonia cannot decode (e.g. Opus) are still listed, so the user gets a clear
/// "unsupported codec" failure instead of a silent skip.
pub const AUDIO_EXTENSIONS: &[&str] = &[
    "wav", "wave", "bwf", "rf64", "mp3", "mp2", "mp1", "m4a", "m4b", "mp4", "aac", "flac", "ogg", "oga", "opus", "aif",
    "aiff", "aifc", "caf", "mka", "webm", "alac",
];

/// Name of the batch report, written at the output root.
pub const REPORT_JSON: &str = "podclean-report.json";

/// Prefix of podclean's own temporary files (spools, partial outputs).
pub const TEMP_PREFIX: &str = ".podclean-";

/// One input file and where its output goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The input file as podclean opens it.
    pub input: PathBuf,
    /// The input relative to its input root (as shown in the report).
    pub input_rel: PathBuf,
    /// Output path relative to the output root.
    pub output_rel: PathBuf,
}

/// A path that could not be turned into a job (unreadable folder, dangling link, loop, clash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub input_rel: PathBuf,
    pub input: PathBuf,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct Discovery {
    /// Jobs sorted by relative input path.
    pub jobs: Vec<Job>,
    pub problems: Vec<Problem>,
    /// Files skipped because their extension is not audio (or they are hidden).
    pub ignored: Vec<PathBuf>,
}

/// The output root used when none is given: a sibling `X-clean` of the input folder `X`
/// (for a single file, of the folder it sits in).
pub fn default_output_root(input: &Path) -> PathBuf {
    let folder = if input.is_dir() {
        input.to_path_buf()
    } else {
        input.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    let folder = std::path::absolute(&folder).unwrap_or(folder);
    let folder = normalize(&folder);
    let name = folder
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "podclean".into());
    folder.with_file_name(format!("{name}-clean"))
}

/// Walks `inputs` and maps each audio file to its output below `output_root`.
///
/// With one input folder, paths mirror that folder. With several inputs, each folder is
/// mirrored under its own name and each file lands at the root.
pub fn discover(inputs: &[PathBuf], output_root: &Path) -> Discovery {
    let mut discovery = Discovery::default();
    let output_abs = canonical_or_absolute(output_root);
    let single = inputs.len() == 1;
    for input in inputs {
        let meta = match std::fs::metadata(input) {
            Ok(meta) => meta,
            Err(e) => {
                discovery.problems.push(Problem {
                    input_rel: input.clone(),
                    input: input.clone(),
                    reason: format!("cannot open input: {}", io_reason(&e)),
                });
                continue;
            }
        };
        if meta.is_file() {
            let name = PathBuf::from(input.file_name().unwrap_or_default());
            if is_audio(&name) {
                discovery.jobs.push(Job {
                    input: input.clone(),
                    input_rel: name.clone(),
                    output_rel: name.with_extension("wav"),
                });
            } else {
                discovery.ignored.push(input.clone());
            }
            continue;
        }
        let prefix = if single {
            PathBuf::new()
        } else {
            let abs = canonical_or_absolute(input);
            PathBuf::from(abs.file_name().unwrap_or_default())
        };
        walk_folder(input, &prefix, &output_abs, &mut discovery);
    }
    resolve_clashes(&mut discovery);
    discovery.jobs.sort_by(|a, b| a.input_rel.cmp(&b.input_rel));
    discovery.problems.sort_by(|a, b| a.input_rel.cmp(&b.input_rel));
    discovery
}

fn walk_folder(root: &Path, prefix: &Path, output_abs: &Path, discovery: &mut Discovery) {
    let walker = WalkDir::new(root).follow_links(true).sort_by_file_name().into_iter();
    let mut walker = walker.filter_entry(|entry| {
        // Never walk into the output tree (it may lie inside the input), nor hidden folders.
        let is_output = entry.file_type().is_dir() && canonical_or_absolute(entry.path()) == output_abs;
        let hidden = entry.depth() > 0 && entry.file_name().to_string_lossy().starts_with('.');
        !(is_output || (hidden && entry.file_type().is_dir()))
    });
    loop {
        let entry = match walker.next() {
            None => break,
            Some(Ok(entry)) => entry,
            Some(Err(err)) => {
                let path = err.path().map(Path::to_path_buf).unwrap_or_else(|| root.to_path_buf());
                let rel = prefix.join(path.strip_prefix(root).unwrap_or(&path));
                let reason = if let Some(ancestor) = err.loop_ancestor() {
                    format!("symbolic link loop (points back to {})", ancestor.display())
                } else if let Some(io) = err.io_error() {
                    if io.kind() == std::io::ErrorKind::NotFound && path.is_symlink() {
                        "dangling symbolic link (its target does not exist)".to_string()
                    } else {
                        format!("cannot read: {}", io_reason(io))
                    }
                } else {
                    err.to_string()
                };
                let looks_like_audio = is_audio(&path) || path.is_symlink() || err.loop_ancestor().is_some();
                if looks_like_audio || err.depth() == 0 || path.is_dir() {
                    discovery.problems.push(Problem {
                        input_rel: rel,
                        input: path,
                        reason,
                    });
                } else {
                    discovery.ignored.push(path);
                }
                continue;
            }
        };
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = prefix.join(entry.path().strip_prefix(root).unwrap_or(entry.path()));
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if hidden || !is_audio(entry.path()) {
            discovery.ignored.push(entry.path().to_path_buf());
            continue;
        }
        discovery.jobs.push(Job {
            input: entry.path().to_path_buf(),
            output_rel: rel.with_extension("wav"),
            input_rel: rel,
        });
    }
}

/// `ep1.mp3` and `ep1.flac` would both become `ep1.wav`: every member of such a group keeps
/// its source extension instead (`ep1.mp3.wav`, `ep1.flac.wav`). Names are compared without
/// case, so outputs don't collide on case-insensitive disks either. Whatever still clashes
/// fails with a message naming the other file.
fn resolve_clashes(discovery: &mut Discovery) {
    let key = |p: &Path| p.to_string_lossy().to_lowercase();
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, job) in discovery.jobs.iter().enumerate() {
        groups.entry(key(&job.output_rel)).or_default().push(i);
    }
    for members in groups.values().filter(|m| m.len() > 1) {
        for &i in members {
            let job = &mut discovery.jobs[i];
            let mut name = job.input_rel.file_name().unwrap_or_default().to_os_string();
            name.push(".wav");
            job.output_rel = job.output_rel.with_file_name(name);
        }
    }
    let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut kept = Vec::with_capacity(discovery.jobs.len());
    for job in std::mem::take(&mut discovery.jobs) {
        match seen.get(&key(&job.output_rel)) {
            Some(other) => discovery.problems.push(Problem {
                reason: format!(
                    "output name {} is already taken by {}; rename one of them",
                    job.output_rel.display(),
                    other.display()
                ),
                input_rel: job.input_rel,
                input: job.input,
            }),
            None => {
                seen.insert(key(&job.output_rel), job.input_rel.clone());
                kept.push(job);
            }
        }
    }
    discovery.jobs = kept;
}

pub fn is_audio(path: &Path) -> bool {
    path.extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.as_str()))
}

/// A short reason for an I/O error, without Rust's "(os error 13)" noise.
pub fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        std::io::ErrorKind::NotFound => "no such file or folder".into(),
        _ => {
            let text = e.to_string();
            match text.find(" (os error") {
                Some(i) => text[..i].to_string(),
                None => text,
            }
        }
    }
}

fn canonical_or_absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| normalize(&std::path::absolute(path).unwrap_or(path.to_path_buf())))
}

/// Removes `.` and `..` components lexically (for paths that do not exist yet).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn touch(path: &Path) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, b"x").unwrap();
    }

    #[test]
    fn mirrors_tree_sorted_and_ignores_non_audio() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        touch(&input.join("b/ep2.MP3"));
        touch(&input.join("a/x/ep1.flac"));
        touch(&input.join("notes.txt"));
        touch(&input.join(".hidden.wav"));
        let d = discover(std::slice::from_ref(&input), &dir.path().join("out"));
        let rels: Vec<_> = d
            .jobs
            .iter()
            .map(|j| (j.input_rel.clone(), j.output_rel.clone()))
            .collect();
        assert_eq!(
            rels,
            vec![
                (PathBuf::from("a/x/ep1.flac"), PathBuf::from("a/x/ep1.wav")),
                (PathBuf::from("b/ep2.MP3"), PathBuf::from("b/ep2.wav")),
            ]
        );
        assert_eq!(d.ignored.len(), 2);
        assert!(d.problems.is_empty());
    }

    #[test]
    fn clashing_names_keep_their_extension() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        touch(&input.join("ep1.mp3"));
        touch(&input.join("ep1.flac"));
        touch(&input.join("ep2.mp3"));
        let d = discover(std::slice::from_ref(&input), &dir.path().join("out"));
        let outs: Vec<_> = d.jobs.iter().map(|j| j.output_rel.clone()).collect();
        assert_eq!(
            outs,
            vec![
                PathBuf::from("ep1.flac.wav"),
                PathBuf::from("ep1.mp3.wav"),
                PathBuf::from("ep2.wav")
            ]
        );
    }

    #[test]
    fn output_inside_input_is_not_walked() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        touch(&input.join("ep1.wav"));
        touch(&input.join("out/ep1.wav"));
        let d = discover(std::slice::from_ref(&input), &input.join("out"));
        assert_eq!(d.jobs.len(), 1);
        assert_eq!(d.jobs[0].input_rel, PathBuf::from("ep1.wav"));
    }

    #[test]
    fn default_output_is_a_sibling() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("Episodes");
        fs::create_dir_all(&input).unwrap();
        let expected = fs::canonicalize(dir.path()).unwrap().join("Episodes-clean");
        assert_eq!(default_output_root(&input).file_name(), expected.file_name());
        let with_slash = PathBuf::from(format!("{}/", input.display()));
        assert_eq!(default_output_root(&with_slash).file_name(), expected.file_name());
    }

    #[test]
    fn several_inputs_are_mirrored_under_their_names() {
        let dir = tempfile::tempdir().unwrap();
        touch(&dir.path().join("A/ep1.wav"));
        touch(&dir.path().join("B/ep1.wav"));
        touch(&dir.path().join("single.mp3"));
        let inputs = vec![
            dir.path().join("A"),
            dir.path().join("B"),
            dir.path().join("single.mp3"),
        ];
        let d = discover(&inputs, &dir.path().join("out"));
        let outs: Vec<_> = d.jobs.iter().map(|j| j.output_rel.clone()).collect();
        assert_eq!(
            outs,
            vec![
                PathBuf::from("A/ep1.wav"),
                PathBuf::from("B/ep1.wav"),
                PathBuf::from("single.wav")
            ]
        );
    }

    #[cfg(unix)]
    #[test]
    fn dangling_symlink_and_loop_are_problems() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        touch(&input.join("ok.wav"));
        std::os::unix::fs::symlink(input.join("missing.wav"), input.join("dangling.wav")).unwrap();
        fs::create_dir_all(input.join("sub")).unwrap();
        std::os::unix::fs::symlink(&input, input.join("sub/loop")).unwrap();
        let d = discover(std::slice::from_ref(&input), &dir.path().join("out"));
        assert_eq!(d.jobs.len(), 1);
        let reasons: Vec<_> = d.problems.iter().map(|p| p.reason.clone()).collect();
        assert!(reasons.iter().any(|r| r.contains("dangling")), "{reasons:?}");
        assert!(reasons.iter().any(|r| r.contains("loop")), "{reasons:?}");
    }
}
