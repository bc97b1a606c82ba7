//! Which files are there: walks the inputs (walkdir), maps each audio file to its mirrored
//! output path, never walks the output root, and resolves output name clashes.
//!
//! Symbolic links inside input folders are not followed unless asked (`follow`), as `fd` and
//! `rg` do; even then a link may not lead outside the input roots. A link the user names on
//! the command line is followed: they chose it. Everything looked at and left alone is listed
//! with the reason, and special files (FIFOs, devices) that look like audio are failed rows,
//! so nothing vanishes from the report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use super::Job;
use crate::error::{Error, ErrorKind};
use crate::fsutil::{self, io_reason};
use crate::io::encode::{FormatChoice, OutputFormat};
use crate::report::Ignored;

/// Extensions podclean treats as audio (lower case). Anything else is ignored and listed.
/// Formats symphonia cannot decode (e.g. Opus) are still listed, so the user gets a clear
/// "unsupported codec" failure instead of a silent skip.
pub const AUDIO_EXTENSIONS: &[&str] = &[
    "wav", "wave", "bwf", "rf64", "mp3", "mp2", "mp1", "m4a", "m4b", "mp4", "aac", "flac", "ogg", "oga", "opus", "aif",
    "aiff", "aifc", "caf", "mka", "webm", "alac",
];

/// A path that could not become a job (unreadable folder, dangling link, loop, clash, FIFO).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub input_rel: PathBuf,
    pub input: PathBuf,
    pub error: Error,
}

#[derive(Debug, Default)]
pub struct Discovery {
    /// Jobs sorted by relative input path.
    pub jobs: Vec<Job>,
    pub problems: Vec<Problem>,
    /// Paths left alone, and why.
    pub ignored: Vec<Ignored>,
}

impl Discovery {
    fn ignore(&mut self, path: &Path, reason: impl Into<String>) {
        self.ignored.push(Ignored {
            path: path.display().to_string(),
            reason: reason.into(),
        });
    }

    fn fail(&mut self, input: &Path, input_rel: PathBuf, kind: ErrorKind, message: String) {
        self.problems.push(Problem {
            input_rel,
            input: input.to_path_buf(),
            error: Error::new(kind, message),
        });
    }
}

/// The walk's settings.
#[derive(Debug, Clone)]
pub struct Walk<'a> {
    pub inputs: &'a [PathBuf],
    /// The resolved output root (never walked), if there is one.
    pub output_root: Option<&'a Path>,
    /// Follow symbolic links inside input folders (`-L`), without leaving the input roots.
    pub follow_links: bool,
    /// The output format asked for; it names each output's extension.
    pub format: FormatChoice,
}

/// Walks the inputs and maps each audio file to its output below the output root, in the
/// format `walk.format` gives it.
///
/// With one input folder, paths mirror that folder. With several inputs, each folder is
/// mirrored under its own name and each file lands at the root.
pub fn discover(walk: &Walk) -> Discovery {
    let mut discovery = Discovery::default();
    let roots: Vec<PathBuf> = walk.inputs.iter().map(|p| fsutil::resolve(p)).collect();
    let single = walk.inputs.len() == 1;
    for input in walk.inputs {
        // The user named this path: a link here is followed (they chose it).
        let meta = match std::fs::metadata(input) {
            Ok(meta) => meta,
            Err(e) => {
                let name = PathBuf::from(input.file_name().unwrap_or(input.as_os_str()));
                discovery.fail(
                    input,
                    name,
                    ErrorKind::of_input_io(&e),
                    format!("cannot open input: {}", io_reason(&e)),
                );
                continue;
            }
        };
        if !meta.is_dir() {
            let name = PathBuf::from(input.file_name().unwrap_or_default());
            add_file(&mut discovery, input, name, &meta, true, false);
            continue;
        }
        let prefix = if single {
            PathBuf::new()
        } else {
            PathBuf::from(fsutil::resolve(input).file_name().unwrap_or_default())
        };
        walk_folder(input, &prefix, walk, &roots, &mut discovery);
    }
    drop_aliases(&mut discovery);
    for job in &mut discovery.jobs {
        job.format = OutputFormat::for_input(&job.input, walk.format);
        job.output_rel = output_rel_for(&job.input_rel, job.format);
    }
    resolve_clashes(&mut discovery);
    discovery.jobs.sort_by(|a, b| a.input_rel.cmp(&b.input_rel));
    discovery.problems.sort_by(|a, b| a.input_rel.cmp(&b.input_rel));
    discovery
}

/// Adds one file found (or named): a job if it is regular audio, a failed row if it is a
/// special file that looks like audio, otherwise an ignored path with the reason.
fn add_file(
    discovery: &mut Discovery,
    path: &Path,
    rel: PathBuf,
    meta: &std::fs::Metadata,
    follow: bool,
    through_link: bool,
) {
    let hidden = path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'));
    if !meta.is_file() {
        let what = fsutil::special_kind_name(&meta.file_type());
        if is_audio(path) && !hidden {
            discovery.fail(
                path,
                rel,
                ErrorKind::NotARegularFile,
                format!("not a regular file ({what}): podclean reads only regular files"),
            );
        } else {
            discovery.ignore(path, format!("not a regular file ({what})"));
        }
        return;
    }
    if hidden {
        discovery.ignore(path, "hidden");
        return;
    }
    if !is_audio(path) {
        discovery.ignore(path, "not audio by extension");
        return;
    }
    let output_rel = output_rel_for(&rel, OutputFormat::Wav);
    let mut job = Job::new(path.to_path_buf(), rel, output_rel);
    job.follow = follow;
    job.through_link = through_link;
    job.identity = Some(fsutil::Fingerprint::of_metadata(meta).identity());
    discovery.jobs.push(job);
}

/// Where a file's output goes, relative to the output root.
pub fn output_rel_for(input_rel: &Path, format: OutputFormat) -> PathBuf {
    input_rel.with_extension(format.extension())
}

fn walk_folder(root: &Path, prefix: &Path, walk: &Walk, roots: &[PathBuf], discovery: &mut Discovery) {
    let output_root = walk.output_root.map(Path::to_path_buf);
    let inside_roots = |path: &Path| -> bool {
        let resolved = fsutil::resolve(path);
        roots.iter().any(|root| resolved.starts_with(root))
    };
    let mut outside: Vec<(PathBuf, PathBuf)> = Vec::new();
    let walker = WalkDir::new(root)
        .follow_links(walk.follow_links)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|entry| {
            if !entry.file_type().is_dir() || entry.depth() == 0 {
                return true;
            }
            let hidden = entry.file_name().to_string_lossy().starts_with('.');
            let is_output = output_root
                .as_deref()
                .is_some_and(|out| fsutil::resolve(entry.path()) == out);
            // A followed link to a folder outside the inputs is not entered.
            let escapes = entry.path_is_symlink() && !inside_roots(entry.path());
            if escapes {
                outside.push((entry.path().to_path_buf(), fsutil::resolve(entry.path())));
            }
            !(hidden || is_output || escapes)
        });
    let rel_of = |path: &Path| prefix.join(path.strip_prefix(root).unwrap_or(path));
    for item in walker {
        let entry = match item {
            Ok(entry) => entry,
            Err(err) => {
                let path = err.path().map(Path::to_path_buf).unwrap_or_else(|| root.to_path_buf());
                let (kind, reason) = if let Some(ancestor) = err.loop_ancestor() {
                    (
                        ErrorKind::BrokenLink,
                        format!("symbolic link loop (points back to {})", ancestor.display()),
                    )
                } else if let Some(io) = err.io_error() {
                    if io.kind() == std::io::ErrorKind::NotFound && path.is_symlink() {
                        (
                            ErrorKind::BrokenLink,
                            "dangling symbolic link (its target does not exist)".to_string(),
                        )
                    } else {
                        (ErrorKind::of_input_io(io), format!("cannot read: {}", io_reason(io)))
                    }
                } else {
                    (ErrorKind::Io, err.to_string())
                };
                let looks_like_audio = is_audio(&path) || path.is_symlink() || err.loop_ancestor().is_some();
                if looks_like_audio || err.depth() == 0 || path.is_dir() {
                    discovery.fail(&path, rel_of(&path), kind, reason);
                } else {
                    discovery.ignore(&path, reason);
                }
                continue;
            }
        };
        let path = entry.path();
        if entry.file_type().is_dir() {
            continue;
        }
        if entry.file_type().is_symlink() {
            // Only reached when links are not followed.
            let hidden = entry.file_name().to_string_lossy().starts_with('.');
            if !hidden {
                discovery.ignore(path, "symbolic link, not followed (use -L/--follow to follow links)");
            }
            continue;
        }
        if entry.path_is_symlink() && !inside_roots(path) {
            let reason = format!(
                "symbolic link leads outside the input folders (to {}); name that file as an input to process it",
                fsutil::resolve(path).display()
            );
            if is_audio(path) {
                discovery.fail(path, rel_of(path), ErrorKind::Symlink, reason);
            } else {
                discovery.ignore(path, reason);
            }
            continue;
        }
        let meta = match entry.metadata() {
            Ok(meta) => meta,
            Err(e) => {
                discovery.fail(path, rel_of(path), ErrorKind::Io, format!("cannot read: {e}"));
                continue;
            }
        };
        let through_link = walk.follow_links && reached_through_link(path);
        add_file(discovery, path, rel_of(path), &meta, walk.follow_links, through_link);
    }
    for (link, target) in outside {
        discovery.ignore(
            &link,
            format!(
                "symbolic link to a folder outside the input folders ({}); not entered",
                target.display()
            ),
        );
    }
}

/// One file reached twice (through a followed link, or named and walked) is done once: under
/// its own path rather than a link's, else the first in path order. The other is listed.
fn drop_aliases(discovery: &mut Discovery) {
    let mut jobs = std::mem::take(&mut discovery.jobs);
    jobs.sort_by(|a, b| a.through_link.cmp(&b.through_link).then(a.input_rel.cmp(&b.input_rel)));
    let mut seen: BTreeMap<(u64, u64), PathBuf> = BTreeMap::new();
    for job in jobs {
        match job
            .identity
            .and_then(|id| seen.get(&id).map(|first| (id, first.clone())))
        {
            Some((_, first)) => discovery.ignore(
                &job.input,
                format!("the same file as {} (reached twice); done once", first.display()),
            ),
            None => {
                if let Some(id) = job.identity {
                    seen.insert(id, job.input_rel.clone());
                }
                discovery.jobs.push(job);
            }
        }
    }
}

/// `ep1.mp3` and `ep1.flac` written as WAV would both become `ep1.wav`: every member of such
/// a group keeps its source extension instead (`ep1.mp3.wav`, `ep1.flac.wav`). Names are compared without
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
            name.push(".");
            name.push(job.format.extension());
            job.output_rel = job.output_rel.with_file_name(name);
        }
    }
    let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut kept = Vec::with_capacity(discovery.jobs.len());
    for job in std::mem::take(&mut discovery.jobs) {
        match seen.get(&key(&job.output_rel)) {
            Some(other) => discovery.problems.push(Problem {
                error: Error::new(
                    ErrorKind::NameClash,
                    format!(
                        "output name {} is already taken by {}; rename one of them",
                        job.output_rel.display(),
                        other.display()
                    ),
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

/// Whether resolving `path` passes through a symbolic link.
fn reached_through_link(path: &Path) -> bool {
    let absolute = fsutil::normalize(&std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()));
    fsutil::resolve(path) != absolute
}

pub fn is_audio(path: &Path) -> bool {
    path.extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn touch(path: &Path) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, b"x").unwrap();
    }

    fn run(inputs: &[PathBuf], out: &Path, follow: bool) -> Discovery {
        let out = fsutil::resolve(out);
        discover(&Walk {
            inputs,
            output_root: Some(&out),
            follow_links: follow,
            format: FormatChoice::Wav,
        })
    }

    #[test]
    fn keep_names_outputs_after_their_format() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        touch(&input.join("ep1.mp3"));
        touch(&input.join("ep1.flac"));
        touch(&input.join("spot.aiff"));
        touch(&input.join("take.wav"));
        let out = fsutil::resolve(&dir.path().join("out"));
        let walk = |format| {
            discover(&Walk {
                inputs: std::slice::from_ref(&input),
                output_root: Some(&out),
                follow_links: false,
                format,
            })
        };
        let d = walk(FormatChoice::Keep);
        let outs: Vec<_> = d.jobs.iter().map(|j| (j.output_rel.clone(), j.format)).collect();
        let lossy = if cfg!(feature = "mp3") {
            OutputFormat::Mp3
        } else {
            OutputFormat::Wav
        };
        assert_eq!(
            outs,
            vec![
                (PathBuf::from("ep1.flac"), OutputFormat::Flac),
                (PathBuf::from(format!("ep1.{}", lossy.extension())), lossy),
                (PathBuf::from("spot.wav"), OutputFormat::Wav),
                (PathBuf::from("take.wav"), OutputFormat::Wav),
            ]
        );
        // Forced to one format, a clash keeps the source extension in the name.
        let outs: Vec<_> = walk(FormatChoice::Flac)
            .jobs
            .iter()
            .map(|j| j.output_rel.clone())
            .collect();
        assert_eq!(
            outs,
            vec![
                PathBuf::from("ep1.flac.flac"),
                PathBuf::from("ep1.mp3.flac"),
                PathBuf::from("spot.flac"),
                PathBuf::from("take.flac")
            ]
        );
    }

    fn reasons(d: &Discovery) -> Vec<String> {
        d.ignored.iter().map(|i| format!("{}: {}", i.path, i.reason)).collect()
    }

    #[test]
    fn mirrors_tree_sorted_and_lists_what_it_ignores() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        touch(&input.join("b/ep2.MP3"));
        touch(&input.join("a/x/ep1.flac"));
        touch(&input.join("notes.txt"));
        touch(&input.join(".hidden.wav"));
        let d = run(std::slice::from_ref(&input), &dir.path().join("out"), false);
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
        let listed = reasons(&d);
        assert_eq!(listed.len(), 2, "{listed:?}");
        assert!(
            listed.iter().any(|r| r.ends_with("notes.txt: not audio by extension")),
            "{listed:?}"
        );
        assert!(listed.iter().any(|r| r.ends_with(".hidden.wav: hidden")), "{listed:?}");
        assert!(d.problems.is_empty());
    }

    #[test]
    fn clashing_names_keep_their_extension() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        touch(&input.join("ep1.mp3"));
        touch(&input.join("ep1.flac"));
        touch(&input.join("ep2.mp3"));
        let d = run(std::slice::from_ref(&input), &dir.path().join("out"), false);
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
        let d = run(&inputs, &dir.path().join("out"), false);
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
    fn links_are_listed_not_followed_unless_asked_and_never_out_of_the_roots() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        touch(&input.join("ok.wav"));
        touch(&input.join("sub/inner.wav"));
        touch(&dir.path().join("secret/meeting.wav"));
        std::os::unix::fs::symlink(dir.path().join("secret/meeting.wav"), input.join("link.wav")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), input.join("secretdir")).unwrap();
        std::os::unix::fs::symlink(input.join("sub/inner.wav"), input.join("alias.wav")).unwrap();

        let d = run(std::slice::from_ref(&input), &dir.path().join("out"), false);
        let jobs: Vec<_> = d.jobs.iter().map(|j| j.input_rel.clone()).collect();
        assert_eq!(jobs, vec![PathBuf::from("ok.wav"), PathBuf::from("sub/inner.wav")]);
        let listed = reasons(&d);
        assert_eq!(
            listed.iter().filter(|r| r.contains("not followed")).count(),
            3,
            "{listed:?}"
        );

        let d = run(std::slice::from_ref(&input), &dir.path().join("out"), true);
        let jobs: Vec<_> = d.jobs.iter().map(|j| j.input_rel.clone()).collect();
        assert_eq!(
            jobs,
            vec![PathBuf::from("ok.wav"), PathBuf::from("sub/inner.wav")],
            "a link inside the roots is followed with -L, and its target done once"
        );
        assert!(reasons(&d)
            .iter()
            .any(|r| r.contains("alias.wav") && r.contains("same file as sub/inner.wav")));
        let failed: Vec<_> = d.problems.iter().map(|p| (p.input_rel.clone(), p.error.kind)).collect();
        assert_eq!(failed, vec![(PathBuf::from("link.wav"), ErrorKind::Symlink)]);
        assert!(reasons(&d)
            .iter()
            .any(|r| r.contains("secretdir") && r.contains("outside")));

        // Naming the target makes it an input.
        let inputs = vec![input.clone(), dir.path().join("secret")];
        let d = run(&inputs, &dir.path().join("out"), true);
        assert!(
            d.jobs.iter().any(|j| j.input_rel == Path::new("secret/meeting.wav")),
            "{:?}",
            d.jobs
        );
        assert!(d.problems.is_empty(), "{:?}", d.problems);
        assert!(reasons(&d)
            .iter()
            .any(|r| r.contains("link.wav") && r.contains("same file")));
    }

    #[cfg(unix)]
    #[test]
    fn dangling_links_loops_and_fifos_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        touch(&input.join("ok.wav"));
        std::os::unix::fs::symlink(input.join("missing.wav"), input.join("dangling.wav")).unwrap();
        fs::create_dir_all(input.join("sub")).unwrap();
        std::os::unix::fs::symlink(&input, input.join("sub/loop")).unwrap();
        for name in ["pipe.wav", "pipe.txt"] {
            rustix::fs::mknodat(
                rustix::fs::CWD,
                input.join(name),
                rustix::fs::FileType::Fifo,
                rustix::fs::Mode::from_raw_mode(0o644),
                0,
            )
            .unwrap();
        }
        let d = run(std::slice::from_ref(&input), &dir.path().join("out"), true);
        assert_eq!(d.jobs.len(), 1);
        let problems: Vec<_> = d
            .problems
            .iter()
            .map(|p| (p.error.kind, p.error.message.clone()))
            .collect();
        assert!(
            problems
                .iter()
                .any(|(k, r)| *k == ErrorKind::BrokenLink && r.contains("dangling")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|(k, r)| *k == ErrorKind::BrokenLink && r.contains("loop")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|(k, r)| *k == ErrorKind::NotARegularFile && r.contains("named pipe")),
            "{problems:?}"
        );
        assert!(reasons(&d)
            .iter()
            .any(|r| r.contains("pipe.txt") && r.contains("named pipe")));
    }
}
