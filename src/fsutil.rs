//! File handling on hostile ground. A nightly job may run as root on a folder others can
//! write to, so below the output root podclean holds each folder open and works relative to
//! that handle: it never follows a symbolic link, creates every temporary exclusively under a
//! per-process name, and makes a file appear under its final name only by renaming a complete,
//! synced temporary, then syncing the folder. Inputs are opened read-only, without following a
//! link unless the plan allowed it, and without blocking on FIFOs.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Prefix of podclean's own temporary files.
pub const TEMP_PREFIX: &str = ".podclean-";

/// A short reason for an I/O error, without Rust's "(os error 13)" noise.
pub fn io_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        io::ErrorKind::NotFound => "no such file or folder".into(),
        _ => {
            let text = e.to_string();
            match text.find(" (os error") {
                Some(i) => text[..i].to_string(),
                None => text,
            }
        }
    }
}

/// The error for a symbolic link found where podclean would write.
fn link_refused(path: &Path) -> io::Error {
    io::Error::other(format!(
        "{} is a symbolic link; podclean never writes through links in the output folder",
        path.display()
    ))
}

/// What a name in a folder is, without following links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    /// A FIFO, socket or device node.
    Special,
}

/// Identity and state of a file, for noticing that it changed or was replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    pub device: u64,
    pub inode: u64,
    pub size: u64,
    pub mtime_ns: i128,
    /// Status-change time: moves when the file is written, renamed over or touched back.
    pub ctime_ns: i128,
}

impl Fingerprint {
    /// The fingerprint of an open file.
    pub fn of_file(file: &File) -> io::Result<Fingerprint> {
        Ok(Fingerprint::of_metadata(&file.metadata()?))
    }

    /// The fingerprint of what `path` names now (links not followed).
    pub fn of_path(path: &Path) -> io::Result<Fingerprint> {
        Ok(Fingerprint::of_metadata(&std::fs::symlink_metadata(path)?))
    }

    pub fn of_metadata(meta: &std::fs::Metadata) -> Fingerprint {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let ns = |s: i64, n: i64| s as i128 * 1_000_000_000 + n as i128;
            Fingerprint {
                device: meta.dev(),
                inode: meta.ino(),
                size: meta.len(),
                mtime_ns: ns(meta.mtime(), meta.mtime_nsec()),
                ctime_ns: ns(meta.ctime(), meta.ctime_nsec()),
            }
        }
        #[cfg(not(unix))]
        {
            let mtime_ns = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos() as i128);
            Fingerprint {
                device: 0,
                inode: 0,
                size: meta.len(),
                mtime_ns,
                ctime_ns: mtime_ns,
            }
        }
    }

    /// Which file this is (device and inode), whatever its name.
    pub fn identity(&self) -> (u64, u64) {
        (self.device, self.inode)
    }

    /// What differs from `earlier`, in words, or `None` when nothing does.
    pub fn change_since(&self, earlier: &Fingerprint) -> Option<String> {
        if (self.device, self.inode) != (earlier.device, earlier.inode) {
            Some("it was replaced by another file".into())
        } else if self.size != earlier.size {
            Some(format!("its size went from {} to {} bytes", earlier.size, self.size))
        } else if self.mtime_ns != earlier.mtime_ns || self.ctime_ns != earlier.ctime_ns {
            Some("it was modified".into())
        } else {
            None
        }
    }
}

/// Opens an input for reading only. Unless `follow` is set, a symbolic link is refused (the
/// plan saw a regular file; a link now means it was swapped). FIFOs and devices are refused
/// without blocking.
pub fn open_input(path: &Path, follow: bool) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let nofollow = if follow { 0 } else { rustix::fs::OFlags::NOFOLLOW.bits() };
        let flags = rustix::fs::OFlags::NONBLOCK.bits() | rustix::fs::OFlags::CLOEXEC.bits() | nofollow;
        options.custom_flags(flags as i32);
    }
    let file = options.open(path).map_err(|e| {
        if !follow && std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
            io::Error::other("it is a symbolic link (use -L/--follow to follow links)")
        } else {
            e
        }
    })?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::other(format!(
            "not a regular file ({})",
            special_kind_name(&meta.file_type())
        )));
    }
    #[cfg(unix)]
    {
        // Regular files ignore O_NONBLOCK, but clear it anyway so reads behave as usual.
        let flags = rustix::fs::fcntl_getfl(&file)?;
        rustix::fs::fcntl_setfl(&file, flags - rustix::fs::OFlags::NONBLOCK)?;
    }
    Ok(file)
}

/// "named pipe", "socket", "device", ... for messages.
pub fn special_kind_name(file_type: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a named pipe";
        }
        if file_type.is_socket() {
            return "a socket";
        }
        if file_type.is_block_device() || file_type.is_char_device() {
            return "a device";
        }
    }
    if file_type.is_dir() {
        "a folder"
    } else if file_type.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A temporary name for something that will become `key`'s file: hidden, exclusive to this
/// process (pid + counter) and short whatever the final name (the final name may already use
/// all of NAME_MAX). `key` is a hex digest of the final name, so leftovers of a killed run can
/// be found per output.
pub fn temp_name(key: &str, tag: &str) -> OsString {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    OsString::from(format!("{TEMP_PREFIX}{key}.{}.{n}.{tag}", std::process::id()))
}

/// The digest used in temporary names and state file names for a relative output path.
pub fn name_key(text: &str) -> String {
    format!("{:016x}", crate::state::stable_hash(text.as_bytes()))
}

/// A folder of the output tree, held open. Every operation is relative to the handle and
/// refuses symbolic links, so swapping a folder for a link between two steps cannot send a
/// write elsewhere.
#[derive(Debug)]
pub struct OutDir {
    #[cfg(unix)]
    fd: std::os::fd::OwnedFd,
    path: PathBuf,
}

impl OutDir {
    /// Opens the output root the user named, creating it (and its parents) if `create`. The
    /// root itself may be a link the user chose; below it nothing is followed.
    pub fn root(path: &Path, create: bool) -> io::Result<OutDir> {
        if create {
            std::fs::create_dir_all(path)?;
        }
        #[cfg(unix)]
        {
            use rustix::fs::{Mode, OFlags};
            let fd = rustix::fs::open(
                path,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            Ok(OutDir {
                fd,
                path: path.to_path_buf(),
            })
        }
        #[cfg(not(unix))]
        {
            if !std::fs::metadata(path)?.is_dir() {
                return Err(io::Error::other(format!("{} is not a folder", path.display())));
            }
            Ok(OutDir {
                path: path.to_path_buf(),
            })
        }
    }

    /// The folder's path, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The folder `rel` below this one (relative, no `..`), opened one component at a time
    /// without following links; missing components are created if `create`.
    pub fn open_dir(&self, rel: &Path, create: bool) -> io::Result<OutDir> {
        let mut current: Option<OutDir> = None;
        for component in rel.components() {
            let name = match component {
                Component::Normal(name) => name,
                Component::CurDir => continue,
                _ => {
                    return Err(io::Error::other(format!(
                        "{} is not a plain relative path",
                        rel.display()
                    )))
                }
            };
            let parent = current.as_ref().unwrap_or(self);
            let next = parent.child_dir(name, create)?;
            current = Some(next);
        }
        match current {
            Some(dir) => Ok(dir),
            None => self.try_clone_dir(),
        }
    }

    pub fn try_clone_dir(&self) -> io::Result<OutDir> {
        Ok(OutDir {
            #[cfg(unix)]
            fd: self.fd.try_clone()?,
            path: self.path.clone(),
        })
    }

    fn child_dir(&self, name: &OsStr, create: bool) -> io::Result<OutDir> {
        let path = self.path.join(name);
        #[cfg(unix)]
        {
            use rustix::fs::{Mode, OFlags};
            if create {
                match rustix::fs::mkdirat(&self.fd, name, Mode::from_raw_mode(0o777)) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            match rustix::fs::openat(&self.fd, name, flags, Mode::empty()) {
                Ok(fd) => Ok(OutDir { fd, path }),
                Err(rustix::io::Errno::LOOP) => Err(link_refused(&path)),
                Err(rustix::io::Errno::NOTDIR) if self.kind(name)? == Some(EntryKind::Symlink) => {
                    Err(link_refused(&path))
                }
                Err(rustix::io::Errno::NOTDIR) => Err(io::Error::other(format!(
                    "{} is in the way: it is a file, not a folder",
                    path.display()
                ))),
                Err(e) => Err(e.into()),
            }
        }
        #[cfg(not(unix))]
        {
            match std::fs::symlink_metadata(&path) {
                Ok(m) if m.file_type().is_symlink() => return Err(link_refused(&path)),
                Ok(m) if !m.is_dir() => {
                    return Err(io::Error::other(format!(
                        "{} is in the way: it is a file, not a folder",
                        path.display()
                    )))
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound && create => std::fs::create_dir(&path)?,
                Err(e) => return Err(e),
            }
            Ok(OutDir { path })
        }
    }

    /// What `name` is in this folder (links not followed), or `None` if nothing is there.
    pub fn kind(&self, name: &OsStr) -> io::Result<Option<EntryKind>> {
        match self.stat(name)? {
            None => Ok(None),
            Some(stat) => Ok(Some(stat.kind)),
        }
    }

    /// Size, kind and identity of `name` (links not followed), or `None` if nothing is there.
    pub fn stat(&self, name: &OsStr) -> io::Result<Option<EntryStat>> {
        #[cfg(unix)]
        {
            use rustix::fs::{AtFlags, FileType};
            match rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => {
                    let kind = match FileType::from_raw_mode(st.st_mode) {
                        FileType::RegularFile => EntryKind::File,
                        FileType::Directory => EntryKind::Dir,
                        FileType::Symlink => EntryKind::Symlink,
                        _ => EntryKind::Special,
                    };
                    Ok(Some(EntryStat {
                        kind,
                        size: st.st_size as u64,
                        device: st.st_dev,
                        inode: st.st_ino,
                    }))
                }
                Err(rustix::io::Errno::NOENT) => Ok(None),
                Err(e) => Err(e.into()),
            }
        }
        #[cfg(not(unix))]
        {
            match std::fs::symlink_metadata(self.path.join(name)) {
                Ok(m) => {
                    let kind = if m.file_type().is_symlink() {
                        EntryKind::Symlink
                    } else if m.is_dir() {
                        EntryKind::Dir
                    } else if m.is_file() {
                        EntryKind::File
                    } else {
                        EntryKind::Special
                    };
                    Ok(Some(EntryStat {
                        kind,
                        size: m.len(),
                        device: 0,
                        inode: 0,
                    }))
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            }
        }
    }

    /// Opens an existing regular file of this folder for reading (a link is refused).
    pub fn open_read(&self, name: &OsStr) -> io::Result<File> {
        #[cfg(unix)]
        {
            use rustix::fs::{Mode, OFlags};
            let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
            let file = File::from(rustix::fs::openat(&self.fd, name, flags, Mode::empty())?);
            if !file.metadata()?.is_file() {
                return Err(io::Error::other(format!(
                    "{} is not a regular file",
                    self.path.join(name).display()
                )));
            }
            Ok(file)
        }
        #[cfg(not(unix))]
        {
            if self.kind(name)? == Some(EntryKind::Symlink) {
                return Err(link_refused(&self.path.join(name)));
            }
            File::open(self.path.join(name))
        }
    }

    /// Opens (creating if missing) a lock file of this folder, never through a link.
    pub fn open_lock_file(&self, name: &OsStr) -> io::Result<File> {
        #[cfg(unix)]
        {
            use rustix::fs::{Mode, OFlags};
            let flags = OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
            match rustix::fs::openat(&self.fd, name, flags, Mode::from_raw_mode(0o666)) {
                Ok(fd) => {
                    let file = File::from(fd);
                    if !file.metadata()?.is_file() {
                        return Err(io::Error::other(format!(
                            "{} is not a regular file",
                            self.path.join(name).display()
                        )));
                    }
                    Ok(file)
                }
                Err(rustix::io::Errno::LOOP) => Err(link_refused(&self.path.join(name))),
                Err(e) => Err(e.into()),
            }
        }
        #[cfg(not(unix))]
        {
            if self.kind(name)? == Some(EntryKind::Symlink) {
                return Err(link_refused(&self.path.join(name)));
            }
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(self.path.join(name))
        }
    }

    /// Creates a new temporary file in this folder, exclusively (it cannot already exist, and
    /// cannot be a link someone planted). Removed on drop unless committed.
    pub fn create_temp(&self, key: &str, tag: &str) -> io::Result<TempFile<'_>> {
        let name = temp_name(key, tag);
        let file = self.create_exclusive(&name)?;
        Ok(TempFile {
            dir: self,
            name,
            file: Some(file),
        })
    }

    fn create_exclusive(&self, name: &OsStr) -> io::Result<File> {
        #[cfg(unix)]
        {
            use rustix::fs::{Mode, OFlags};
            let flags = OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let fd = rustix::fs::openat(&self.fd, name, flags, Mode::from_raw_mode(0o666))?;
            Ok(File::from(fd))
        }
        #[cfg(not(unix))]
        {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(self.path.join(name))
        }
    }

    /// A nameless file in this folder's file system (for the spool): nothing to clean up after
    /// a crash, nothing anyone else can open by name.
    pub fn anonymous_file(&self, key: &str) -> io::Result<File> {
        #[cfg(target_os = "linux")]
        {
            use rustix::fs::{Mode, OFlags};
            let flags = OFlags::RDWR | OFlags::TMPFILE | OFlags::CLOEXEC;
            if let Ok(fd) = rustix::fs::openat(&self.fd, ".", flags, Mode::from_raw_mode(0o600)) {
                return Ok(File::from(fd));
            }
        }
        // No O_TMPFILE (another OS, or a file system without it): create exclusively, unlink.
        let mut temp = self.create_temp(key, "spool")?;
        let file = temp
            .file
            .take()
            .ok_or_else(|| io::Error::other("temporary already taken"))?;
        if cfg!(unix) {
            drop(temp); // unlinks the name; the open handle keeps the data
        } else {
            std::mem::forget(temp); // cannot unlink an open file here; swept on the next run
        }
        Ok(file)
    }

    /// Writes `bytes` to `name` atomically: exclusive temporary, sync, rename, folder sync.
    pub fn write_atomically(&self, name: &OsStr, bytes: &[u8]) -> io::Result<()> {
        use std::io::Write;
        let key = name_key(&name.to_string_lossy());
        let mut temp = self.create_temp(&key, "tmp")?;
        temp.file_mut().write_all(bytes)?;
        temp.commit(name)
    }

    /// Reads a small regular file of this folder (a link is refused).
    pub fn read(&self, name: &OsStr) -> io::Result<Vec<u8>> {
        use std::io::Read;
        let mut bytes = Vec::new();
        self.open_read(name)?.read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    /// Removes `name` (a file or a link — the link itself, never its target).
    pub fn remove(&self, name: &OsStr) -> io::Result<()> {
        #[cfg(unix)]
        {
            rustix::fs::unlinkat(&self.fd, name, rustix::fs::AtFlags::empty())?;
            Ok(())
        }
        #[cfg(not(unix))]
        {
            std::fs::remove_file(self.path.join(name))
        }
    }

    fn rename_into_place(&self, from: &OsStr, to: &OsStr) -> io::Result<()> {
        #[cfg(unix)]
        {
            rustix::fs::renameat(&self.fd, from, &self.fd, to)?;
            Ok(())
        }
        #[cfg(not(unix))]
        {
            std::fs::rename(self.path.join(from), self.path.join(to))
        }
    }

    /// Makes the folder's entries durable (after a rename into it).
    pub fn sync(&self) -> io::Result<()> {
        #[cfg(unix)]
        {
            rustix::fs::fsync(&self.fd)?;
        }
        Ok(())
    }

    /// Names in this folder (not `.` and `..`).
    pub fn names(&self) -> io::Result<Vec<OsString>> {
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            let mut names = Vec::new();
            let dir = rustix::fs::Dir::read_from(&self.fd)?;
            for entry in dir {
                let entry = entry?;
                let bytes = entry.file_name().to_bytes();
                if bytes != b"." && bytes != b".." {
                    names.push(OsStr::from_bytes(bytes).to_os_string());
                }
            }
            Ok(names)
        }
        #[cfg(not(unix))]
        {
            std::fs::read_dir(&self.path)?
                .map(|e| e.map(|e| e.file_name()))
                .collect()
        }
    }

    /// Removes podclean temporaries (files or planted links whose name starts with the
    /// temporary prefix) in this folder and below, never following a link. With `key`, only
    /// those of that output. Returns how many were removed.
    pub fn sweep_temporaries(&self, key: Option<&str>) -> usize {
        let Ok(names) = self.names() else { return 0 };
        let mut removed = 0;
        for name in names {
            let text = name.to_string_lossy();
            let Ok(Some(kind)) = self.kind(&name) else { continue };
            if text.starts_with(TEMP_PREFIX) && kind != EntryKind::Dir {
                let ours = match key {
                    None => true,
                    Some(key) => text[TEMP_PREFIX.len()..].starts_with(&format!("{key}.")),
                };
                if ours && self.remove(&name).is_ok() {
                    removed += 1;
                }
            } else if kind == EntryKind::Dir && key.is_none() {
                if let Ok(child) = self.child_dir(&name, false) {
                    removed += child.sweep_temporaries(None);
                }
            }
        }
        removed
    }
}

/// Size, kind and identity of a folder entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryStat {
    pub kind: EntryKind,
    pub size: u64,
    pub device: u64,
    pub inode: u64,
}

/// A temporary file in an [`OutDir`]; removed on drop unless [`TempFile::commit`]ted.
#[derive(Debug)]
pub struct TempFile<'a> {
    dir: &'a OutDir,
    name: OsString,
    file: Option<File>,
}

impl TempFile<'_> {
    pub fn file(&self) -> &File {
        self.file
            .as_ref()
            .unwrap_or_else(|| unreachable!("file present until commit"))
    }

    pub fn file_mut(&mut self) -> &mut File {
        self.file
            .as_mut()
            .unwrap_or_else(|| unreachable!("file present until commit"))
    }

    /// The temporary's path, for messages.
    pub fn path(&self) -> PathBuf {
        self.dir.path.join(&self.name)
    }

    /// Syncs the data, renames the temporary to `final_name` in the same folder (replacing
    /// what is there — a link is replaced, never written through), and syncs the folder.
    pub fn commit(mut self, final_name: &OsStr) -> io::Result<()> {
        if let Some(file) = self.file.take() {
            file.sync_all()?;
        }
        self.dir.rename_into_place(&self.name, final_name)?;
        self.name.clear();
        self.dir.sync()
    }
}

impl Drop for TempFile<'_> {
    fn drop(&mut self) {
        if !self.name.is_empty() {
            drop(self.file.take());
            let _ = self.dir.remove(&self.name);
        }
    }
}

/// Removes `.` and `..` components lexically (for paths that may not exist yet).
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The path with every existing part resolved (links, `.`, `..`) and the missing rest
/// appended: what a path will mean once its missing folders are created.
pub fn resolve(path: &Path) -> PathBuf {
    let absolute = normalize(&std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()));
    let mut existing = absolute.clone();
    let mut rest: Vec<OsString> = Vec::new();
    loop {
        if let Ok(canonical) = std::fs::canonicalize(&existing) {
            let mut out = canonical;
            for part in rest.iter().rev() {
                out.push(part);
            }
            return out;
        }
        match (existing.file_name().map(OsStr::to_os_string), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent.to_path_buf();
            }
            _ => return absolute,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn temporaries_are_exclusive_short_and_removed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let out = OutDir::root(dir.path(), false).unwrap();
        let long_key = name_key(&"x".repeat(255));
        let path = {
            let mut temp = out.create_temp(&long_key, "partial").unwrap();
            temp.file_mut().write_all(b"abc").unwrap();
            let path = temp.path();
            assert!(path.file_name().unwrap().len() < 80, "{path:?}");
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            assert!(name.contains(&std::process::id().to_string()), "pid in {name}");
            assert!(path.exists());
            path
        };
        assert!(!path.exists(), "dropped temporaries are removed");
    }

    #[test]
    fn commit_renames_and_replaces_a_planted_link_without_following_it() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim.txt");
        std::fs::write(&victim, b"precious").unwrap();
        let out_path = dir.path().join("out");
        std::fs::create_dir(&out_path).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(&victim, out_path.join("ep.wav")).unwrap();
        let out = OutDir::root(&out_path, false).unwrap();
        let mut temp = out.create_temp("k", "partial").unwrap();
        temp.file_mut().write_all(b"new").unwrap();
        temp.commit(OsStr::new("ep.wav")).unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        let meta = std::fs::symlink_metadata(out_path.join("ep.wav")).unwrap();
        assert!(meta.is_file(), "the link was replaced by the file");
        assert_eq!(std::fs::read(out_path.join("ep.wav")).unwrap(), b"new");
    }

    #[cfg(unix)]
    #[test]
    fn symlinked_subfolders_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = dir.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        let out_path = dir.path().join("out");
        std::fs::create_dir(&out_path).unwrap();
        std::os::unix::fs::symlink(&elsewhere, out_path.join("a")).unwrap();
        let out = OutDir::root(&out_path, false).unwrap();
        let err = out.open_dir(Path::new("a/b"), true).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert!(!elsewhere.join("b").exists(), "nothing created through the link");
        // Regular nested folders are created.
        let nested = out.open_dir(Path::new("x/y/z"), true).unwrap();
        assert!(out_path.join("x/y/z").is_dir());
        nested.write_atomically(OsStr::new("f"), b"1").unwrap();
        assert_eq!(std::fs::read(out_path.join("x/y/z/f")).unwrap(), b"1");
    }

    #[cfg(unix)]
    #[test]
    fn lock_files_and_reads_refuse_links() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"v").unwrap();
        std::os::unix::fs::symlink(&victim, dir.path().join("lock")).unwrap();
        let out = OutDir::root(dir.path(), false).unwrap();
        assert!(out.open_lock_file(OsStr::new("lock")).is_err());
        assert!(out.open_read(OsStr::new("lock")).is_err());
        assert_eq!(std::fs::read(&victim).unwrap(), b"v");
    }

    #[test]
    fn anonymous_file_leaves_no_name() {
        let dir = tempfile::tempdir().unwrap();
        let out = OutDir::root(dir.path(), false).unwrap();
        let mut file = out.anonymous_file("k").unwrap();
        file.write_all(b"spool").unwrap();
        use std::io::Seek;
        file.seek(std::io::SeekFrom::Start(0)).unwrap();
        let mut back = String::new();
        file.read_to_string(&mut back).unwrap();
        assert_eq!(back, "spool");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[cfg(unix)]
    #[test]
    fn sweep_removes_temporaries_and_planted_links_but_follows_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join(".podclean-x.partial"), b"not ours to delete").unwrap();
        let out_path = dir.path().join("out");
        std::fs::create_dir_all(out_path.join("sub")).unwrap();
        std::fs::write(out_path.join("sub/.podclean-k1.9.0.partial"), b"").unwrap();
        std::fs::write(out_path.join(".podclean-k2.9.0.tmp"), b"").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", out_path.join(".podclean-k3.9.0.partial")).unwrap();
        std::os::unix::fs::symlink(&outside, out_path.join("link")).unwrap();
        std::fs::write(out_path.join("keep.wav"), b"").unwrap();
        let out = OutDir::root(&out_path, false).unwrap();
        assert_eq!(out.sweep_temporaries(None), 3);
        assert!(outside.join(".podclean-x.partial").exists());
        assert!(out_path.join("keep.wav").exists());
        // Per-output sweep only takes that output's leftovers.
        std::fs::write(out_path.join(".podclean-aa.1.0.partial"), b"").unwrap();
        std::fs::write(out_path.join(".podclean-bb.1.0.partial"), b"").unwrap();
        assert_eq!(out.sweep_temporaries(Some("aa")), 1);
        assert!(out_path.join(".podclean-bb.1.0.partial").exists());
    }

    #[cfg(unix)]
    #[test]
    fn inputs_open_read_only_and_refuse_fifos_and_unfollowed_links() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.wav");
        std::fs::write(&file, b"RIFF").unwrap();
        std::os::unix::fs::symlink(&file, dir.path().join("link.wav")).unwrap();
        let fifo = dir.path().join("pipe.wav");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        assert!(open_input(&file, false).is_ok());
        let err = open_input(&dir.path().join("link.wav"), false).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert!(open_input(&dir.path().join("link.wav"), true).is_ok());
        let err = open_input(&fifo, false).unwrap_err();
        assert!(err.to_string().contains("named pipe"), "{err}");
    }

    #[test]
    fn fingerprint_notices_growth_and_replacement() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.wav");
        std::fs::write(&path, b"1234").unwrap();
        let file = File::open(&path).unwrap();
        let before = Fingerprint::of_file(&file).unwrap();
        assert_eq!(Fingerprint::of_path(&path).unwrap().change_since(&before), None);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"5")
            .unwrap();
        let grown = Fingerprint::of_file(&file).unwrap().change_since(&before).unwrap();
        assert!(grown.contains("size"), "{grown}");
        std::fs::write(dir.path().join("b.wav"), b"1234").unwrap();
        std::fs::rename(dir.path().join("b.wav"), &path).unwrap();
        let replaced = Fingerprint::of_path(&path).unwrap().change_since(&before).unwrap();
        assert!(replaced.contains("replaced"), "{replaced}");
    }

    #[test]
    fn resolve_handles_missing_tails_and_dots() {
        let dir = tempfile::tempdir().unwrap();
        let canonical = std::fs::canonicalize(dir.path()).unwrap();
        assert_eq!(resolve(&dir.path().join("x/./y/../z")), canonical.join("x/z"));
        assert_eq!(resolve(&dir.path().join(".")), canonical);
    }
}
