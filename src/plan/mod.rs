//! The plan: what will be done to each file and why, decided before anything is written.
//! Discovery + shard filter + freshness (the manifest) → a [`Plan`]; `--dry-run` prints the
//! same plan the run executes. The safety rules that protect inputs are checked here, and a
//! violation refuses the whole run before any file or folder is touched.

pub mod discover;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::fsutil::{self, Fingerprint};
use crate::io::encode::{FormatChoice, OutputFormat};
use crate::report::{FileReport, Ignored};
use crate::state::{Freshness, Manifest, Shard};

pub use discover::{is_audio, output_rel_for, AUDIO_EXTENSIONS};

/// One input file and where its output goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The input file as podclean opens it.
    pub input: PathBuf,
    /// The input relative to its input root (as shown in the report).
    pub input_rel: PathBuf,
    /// Output path relative to the output root; its extension is the format's.
    pub output_rel: PathBuf,
    /// The format the output is written in.
    pub format: OutputFormat,
    /// The input may be opened through a symbolic link (the user named it, or asked for `-L`).
    pub follow: bool,
    /// It was reached through a symbolic link.
    pub through_link: bool,
    /// Device and inode seen when the plan was made: the file opened later must be this one.
    pub identity: Option<(u64, u64)>,
}

impl Job {
    pub fn new(input: PathBuf, input_rel: PathBuf, output_rel: PathBuf) -> Job {
        Job {
            input,
            input_rel,
            output_rel,
            format: OutputFormat::Wav,
            follow: false,
            through_link: false,
            identity: None,
        }
    }

    /// The key of this job's output in the state folder (manifest entry, claim, temporaries).
    pub fn key(&self) -> String {
        Manifest::key(&self.output_rel)
    }
}

/// What the run will do with one file.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Process (or measure) it; the reason is shown by `--dry-run` (`new`, `input changed`…).
    Process { reason: String },
    /// Up to date: its earlier report row is kept.
    Skip(Box<FileReport>),
    /// It cannot be done (unreadable, a FIFO, a clash…).
    Fail(Error),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub job: Job,
    pub action: Action,
}

/// What a run will do, file by file, and what it leaves alone.
#[derive(Debug, Default)]
pub struct Plan {
    /// Sorted by relative input path.
    pub items: Vec<Item>,
    pub ignored: Vec<Ignored>,
}

impl Plan {
    /// The jobs that will be processed.
    pub fn to_process(&self) -> impl Iterator<Item = &Job> {
        self.items
            .iter()
            .filter(|item| matches!(item.action, Action::Process { .. }))
            .map(|item| &item.job)
    }
}

/// Why a plan cannot be made; nothing has been touched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// What to plan.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub inputs: &'a [PathBuf],
    /// Where outputs (or reports) go.
    pub output_root: &'a Path,
    /// Whether audio outputs will be written (process), or only reports (analyze, check).
    pub writes_audio: bool,
    pub follow_links: bool,
    pub shard: Option<Shard>,
    /// Redo files whose output is up to date.
    pub force: bool,
    /// The output format asked for (`keep` decides per file).
    pub format: FormatChoice,
}

/// The output root used when none is given: a sibling `X-clean` of the input folder `X` (for
/// a single file, of the folder it sits in).
pub fn default_output_root(input: &Path) -> PathBuf {
    let absolute = fsutil::normalize(&std::path::absolute(input).unwrap_or_else(|_| input.to_path_buf()));
    let folder = if absolute.is_dir() {
        absolute
    } else {
        absolute.parent().map(Path::to_path_buf).unwrap_or(absolute)
    };
    match folder.file_name() {
        Some(name) => folder.with_file_name(format!("{}-clean", name.to_string_lossy())),
        None => folder.join("podclean-clean"),
    }
}

fn same_path(a: &Path, b: &Path) -> bool {
    // Compared without case too: on a case-insensitive disk `Show/ep.wav` is `show/ep.wav`.
    a == b || a.to_string_lossy().to_lowercase() == b.to_string_lossy().to_lowercase()
}

fn inside(path: &Path, folder: &Path) -> bool {
    path.starts_with(folder)
        || Path::new(&path.to_string_lossy().to_lowercase()).starts_with(folder.to_string_lossy().to_lowercase())
}

/// The rules checked before discovery: every input exists, none is given twice (or inside
/// another), and the output root is neither an input nor inside an input folder.
pub fn check_inputs(request: &Request) -> Result<(), Refused> {
    let mut resolved = Vec::new();
    for input in request.inputs {
        match std::fs::metadata(input) {
            Ok(meta) => resolved.push((input, fsutil::resolve(input), meta.is_dir())),
            Err(e) => {
                return Err(Refused(format!(
                    "{}: {} (nothing was done)",
                    input.display(),
                    fsutil::io_reason(&e)
                )))
            }
        }
    }
    for (i, (a, a_res, a_dir)) in resolved.iter().enumerate() {
        for (b, b_res, _) in &resolved[i + 1..] {
            if same_path(a_res, b_res) {
                return Err(Refused(format!(
                    "{} and {} are the same input given twice",
                    a.display(),
                    b.display()
                )));
            }
            let (outer, inner) = if *a_dir && inside(b_res, a_res) {
                (a, b)
            } else if inside(a_res, b_res) {
                (b, a)
            } else {
                continue;
            };
            return Err(Refused(format!(
                "{} lies inside {}, which is also an input: its files would be done twice",
                inner.display(),
                outer.display()
            )));
        }
    }
    if !request.writes_audio {
        return Ok(()); // only reports are written, under names no input can have
    }
    let out = fsutil::resolve(request.output_root);
    for (input, input_res, is_dir) in &resolved {
        if same_path(&out, input_res) {
            let what = if *is_dir { "input folder" } else { "input file" };
            return Err(Refused(format!(
                "the output folder {} is the {what} {}: podclean never writes over its inputs; choose another output folder with -o",
                request.output_root.display(),
                input.display()
            )));
        }
        if *is_dir && inside(&out, input_res) {
            return Err(Refused(format!(
                "the output folder {} lies inside the input folder {}: outputs would mix with inputs (and be read as inputs next time); choose an output folder outside it with -o",
                request.output_root.display(),
                input.display()
            )));
        }
    }
    Ok(())
}

/// Refuses a plan in which an output path could be an input: the same path once resolved
/// (links, `.`/`..`, case), or an existing output that is the same file as an input.
fn check_outputs(request: &Request, jobs: &[&Job]) -> Result<(), Refused> {
    let out = fsutil::resolve(request.output_root);
    let inputs: HashSet<(u64, u64)> = jobs.iter().filter_map(|job| job.identity).collect();
    let input_paths: Vec<(String, &Job)> = jobs
        .iter()
        .map(|job| (fsutil::resolve(&job.input).to_string_lossy().to_lowercase(), *job))
        .collect();
    let input_set: std::collections::HashMap<&str, &Job> = input_paths.iter().map(|(p, j)| (p.as_str(), *j)).collect();
    for job in jobs {
        let target = fsutil::resolve(&out.join(&job.output_rel));
        let by_path = input_set.get(target.to_string_lossy().to_lowercase().as_str()).copied();
        let by_identity = std::fs::symlink_metadata(&target)
            .ok()
            .map(|m| Fingerprint::of_metadata(&m).identity())
            .filter(|id| inputs.contains(id))
            .and_then(|id| jobs.iter().find(|j| j.identity == Some(id)).copied());
        if let Some(input) = by_path.or(by_identity) {
            return Err(Refused(format!(
                "the output for {} would be written to {}, which is the input {}: podclean never writes over its inputs; choose an output folder that holds no inputs",
                job.input.display(),
                target.display(),
                input.input.display()
            )));
        }
    }
    Ok(())
}

/// Makes the plan. `manifest` (processing runs) decides what is up to date.
pub fn build(request: &Request, manifest: Option<&Manifest>) -> Result<Plan, Refused> {
    check_inputs(request)?;
    let out = fsutil::resolve(request.output_root);
    let discovery = discover::discover(&discover::Walk {
        inputs: request.inputs,
        output_root: Some(&out),
        follow_links: request.follow_links,
        format: request.format,
    });
    if request.writes_audio {
        let jobs: Vec<&Job> = discovery.jobs.iter().collect();
        check_outputs(request, &jobs)?;
    }
    let in_shard = |rel: &Path| request.shard.is_none_or(|shard| shard.contains(rel));
    let mut items = Vec::new();
    for job in discovery.jobs {
        if !in_shard(&job.input_rel) {
            continue;
        }
        let action = match manifest {
            Some(manifest) if request.writes_audio => {
                let meta = if job.follow {
                    std::fs::metadata(&job.input)
                } else {
                    std::fs::symlink_metadata(&job.input)
                };
                match meta.map(|m| Fingerprint::of_metadata(&m)) {
                    Err(e) => Action::Fail(Error::new(
                        crate::error::ErrorKind::of_input_io(&e),
                        format!("cannot open input: {}", fsutil::io_reason(&e)),
                    )),
                    Ok(fp) => match manifest.freshness(&job, &fp) {
                        Freshness::UpToDate(previous) if !request.force => Action::Skip(previous),
                        Freshness::UpToDate(_) => Action::Process {
                            reason: "forced".into(),
                        },
                        Freshness::Stale(reason) => Action::Process { reason },
                    },
                }
            }
            _ => Action::Process { reason: "new".into() },
        };
        items.push(Item { job, action });
    }
    for problem in discovery.problems {
        if !in_shard(&problem.input_rel) {
            continue;
        }
        let job = Job::new(problem.input, problem.input_rel, PathBuf::new());
        items.push(Item {
            job,
            action: Action::Fail(problem.error),
        });
    }
    items.sort_by(|a, b| a.job.input_rel.cmp(&b.job.input_rel));
    Ok(Plan {
        items,
        ignored: discovery.ignored,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn touch(path: &Path) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, b"x").unwrap();
    }

    fn request<'a>(inputs: &'a [PathBuf], out: &'a Path) -> Request<'a> {
        Request {
            inputs,
            output_root: out,
            writes_audio: true,
            follow_links: false,
            shard: None,
            force: false,
            format: FormatChoice::Wav,
        }
    }

    fn refused(inputs: &[PathBuf], out: &Path) -> String {
        build(&request(inputs, out), None).unwrap_err().0
    }

    #[test]
    fn output_over_inputs_is_refused_in_every_spelling() {
        let dir = tempfile::tempdir().unwrap();
        let show = dir.path().join("show");
        touch(&show.join("ep1.wav"));
        touch(&dir.path().join("a/ep1.wav"));
        touch(&dir.path().join("b/ep2.wav"));
        let err = refused(&[dir.path().join("a"), dir.path().join("b")], dir.path());
        assert!(err.contains("never writes over its inputs"), "{err}");
        let err = refused(&[show.join("ep1.wav")], &show);
        assert!(err.contains("never writes over its inputs"), "{err}");
        for out in [
            show.clone(),
            show.join("."),
            dir.path().join("show/../show/."),
            show.join("final"),
        ] {
            let err = refused(std::slice::from_ref(&show), &out);
            assert!(err.contains("input folder"), "{out:?}: {err}");
        }
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(&show, dir.path().join("alias")).unwrap();
            let err = refused(std::slice::from_ref(&show), &dir.path().join("alias"));
            assert!(err.contains("is the input folder"), "{err}");
        }
        let err = refused(&[show.clone(), dir.path().join("show/")], &dir.path().join("out"));
        assert!(err.contains("given twice"), "{err}");
        let err = refused(&[show.clone(), show.join("ep1.wav")], &dir.path().join("out"));
        assert!(err.contains("inside"), "{err}");
        let err = refused(&[dir.path().join("nope")], &dir.path().join("out"));
        assert!(err.contains("no such file"), "{err}");
        assert!(!dir.path().join("out").exists(), "refusals touch nothing");
        // A sibling output is fine.
        assert!(build(&request(std::slice::from_ref(&show), &dir.path().join("out")), None).is_ok());
    }

    #[cfg(unix)]
    #[test]
    fn an_existing_hard_link_to_an_input_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        touch(&input.join("ep.wav"));
        fs::create_dir_all(dir.path().join("out")).unwrap();
        fs::hard_link(input.join("ep.wav"), dir.path().join("out/ep.wav")).unwrap();
        let err = refused(std::slice::from_ref(&input), &dir.path().join("out"));
        assert!(err.contains("never writes over its inputs"), "{err}");
    }

    #[test]
    fn default_output_is_a_sibling_even_for_a_bare_file_name() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("Episodes");
        fs::create_dir_all(&input).unwrap();
        assert_eq!(default_output_root(&input), dir.path().join("Episodes-clean"));
        let with_slash = PathBuf::from(format!("{}/", input.display()));
        assert_eq!(default_output_root(&with_slash), dir.path().join("Episodes-clean"));
        assert_eq!(
            default_output_root(&input.join("x/..")),
            dir.path().join("Episodes-clean")
        );
        touch(&input.join("ep.wav"));
        assert_eq!(
            default_output_root(&input.join("ep.wav")),
            dir.path().join("Episodes-clean")
        );
        // A bare file name in the current folder: the sibling of the current folder.
        let cwd = std::env::current_dir().unwrap();
        let expected = cwd.with_file_name(format!("{}-clean", cwd.file_name().unwrap().to_string_lossy()));
        assert_eq!(default_output_root(Path::new("ep.wav")), expected);
    }

    #[test]
    fn shards_and_freshness_shape_the_items() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        for i in 0..20 {
            touch(&input.join(format!("ep{i}.wav")));
        }
        let out = dir.path().join("out");
        let mut req = request(std::slice::from_ref(&input), &out);
        let all = build(&req, None).unwrap();
        assert_eq!(all.items.len(), 20);
        let mut total = 0;
        for k in 1..=3 {
            req.shard = Some(Shard { index: k, count: 3 });
            total += build(&req, None).unwrap().items.len();
        }
        assert_eq!(total, 20);
        assert!(all
            .items
            .iter()
            .all(|i| i.action == Action::Process { reason: "new".into() }));
    }
}
