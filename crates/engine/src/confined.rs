//! File access confined to the files root. File paths come from rows and from archives, so they
//! are data, not trusted: every directory is opened relative to its parent's descriptor with
//! `O_NOFOLLOW | O_DIRECTORY`, starting from the root, and files with `O_NOFOLLOW`. A symlink
//! anywhere in a path is refused, never followed, and since the check is the open itself there is
//! no window in which a directory can be swapped for a link between checking and using it.
//!
//! The root itself is configuration (`backup.files_root`) and is opened as configured.

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

/// A file path relative to the files root, as written in a row: its normal components (empty and
/// `.` components dropped, so `a/./b` and `a//b` are `a/b`). Any byte but `/` and NUL is allowed
/// in a component: `a\b.png` is an ordinary file name on Linux.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct RelativePath {
    parts: Vec<String>,
}

/// Why a file is not read or written. The text is stored in manifests and plans (`reason`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PathProblem {
    #[error("the path is empty")]
    Empty,
    #[error("the path is absolute; file references must be relative to the files root")]
    Absolute,
    #[error("the path has a `..` component, which would leave its directory")]
    ParentComponent,
    #[error("the path contains a NUL byte")]
    Nul,
    #[error("the path is outside the organization's own files (`{prefix}`)")]
    OutsidePrefix { prefix: String },
    #[error("`{at}` is a symbolic link; links in the files tree are never followed")]
    Symlink { at: String },
    #[error("`{at}` is not a directory")]
    NotDirectory { at: String },
    #[error("it is not a regular file")]
    NotRegularFile,
    #[error("it cannot be opened: {0}")]
    Unreadable(String),
}

impl RelativePath {
    pub(crate) fn parse(path: &str) -> Result<Self, PathProblem> {
        if path.contains('\0') {
            return Err(PathProblem::Nul);
        }
        if path.starts_with('/') {
            return Err(PathProblem::Absolute);
        }
        let mut parts = Vec::new();
        for part in path.split('/') {
            match part {
                "" | "." => {}
                ".." => return Err(PathProblem::ParentComponent),
                part => parts.push(part.to_string()),
            }
        }
        if parts.is_empty() {
            return Err(PathProblem::Empty);
        }
        Ok(Self { parts })
    }

    /// The organization's own directory: `template` with `{org_id}` replaced (see
    /// `tenancy.files_prefix`). An org id that would make it leave the root is refused.
    pub(crate) fn org_prefix(template: &str, org_id: &str) -> Result<Self, PathProblem> {
        Self::parse(&template.replace("{org_id}", org_id))
    }

    pub(crate) fn starts_with(&self, prefix: &RelativePath) -> bool {
        self.parts.len() > prefix.parts.len() && self.parts.starts_with(&prefix.parts)
    }

    #[cfg(test)]
    fn parts(&self) -> &[String] {
        &self.parts
    }

    fn parent(&self) -> &[String] {
        &self.parts[..self.parts.len() - 1]
    }

    fn file_name(&self) -> &str {
        self.parts.last().expect("a relative path has a component")
    }
}

impl std::fmt::Display for RelativePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.parts.join("/"))
    }
}

fn open_root(root: &Path) -> io::Result<OwnedFd> {
    Ok(rustix::fs::open(
        root,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Where an open refused: a link or a non-directory is a [`PathProblem`], anything else is I/O.
enum Refused {
    Problem(PathProblem),
    Io(io::Error),
}

impl From<io::Error> for Refused {
    fn from(e: io::Error) -> Self {
        Refused::Io(e)
    }
}

/// Opens directory `name` of `parent` without following a link. `shown` names it in messages.
fn open_dir(parent: &OwnedFd, name: &str, shown: &str) -> Result<OwnedFd, Refused> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    match rustix::fs::openat(parent, name, flags, Mode::empty()) {
        Ok(fd) => Ok(fd),
        Err(e) if e == Errno::LOOP || e == Errno::NOTDIR => Err(what_is_there(parent, name, shown)),
        Err(e) => Err(Refused::Io(e.into())),
    }
}

/// Names what stands where a directory or regular file was expected.
fn what_is_there(parent: &OwnedFd, name: &str, shown: &str) -> Refused {
    match rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) if FileType::from_raw_mode(stat.st_mode) == FileType::Symlink => {
            Refused::Problem(PathProblem::Symlink { at: shown.into() })
        }
        Ok(_) => Refused::Problem(PathProblem::NotDirectory { at: shown.into() }),
        Err(e) => Refused::Io(e.into()),
    }
}

/// Opens the directories of `parts` one by one from the root. With `create`, missing ones are
/// made (and counted in `created`, so a discarded restore can remove them again).
fn walk(
    root: &Path,
    parts: &[String],
    create: bool,
    created: &mut usize,
) -> Result<OwnedFd, Refused> {
    let mut dir = open_root(root)?;
    for (depth, name) in parts.iter().enumerate() {
        let shown = parts[..=depth].join("/");
        dir = match open_dir(&dir, name, &shown) {
            Err(Refused::Io(e)) if create && e.kind() == io::ErrorKind::NotFound => {
                match rustix::fs::mkdirat(&dir, name.as_str(), Mode::from_raw_mode(0o755)) {
                    Ok(()) => *created += 1,
                    // Made meanwhile by another writer: open it like any other.
                    Err(e) if e == Errno::EXIST => {}
                    Err(e) => return Err(Refused::Io(e.into())),
                }
                open_dir(&dir, name, &shown)?
            }
            other => other?,
        };
    }
    Ok(dir)
}

/// Opens a referenced file for reading, confined to `root`. `Ok(None)`: it does not exist.
pub(crate) fn open_for_read(
    root: &Path,
    path: &RelativePath,
) -> Result<Option<(File, u64)>, PathProblem> {
    let unreadable = |e: io::Error| PathProblem::Unreadable(e.to_string());
    let dir = match walk(root, path.parent(), false, &mut 0) {
        Ok(dir) => dir,
        Err(Refused::Io(e)) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(Refused::Io(e)) => return Err(unreadable(e)),
        Err(Refused::Problem(p)) => return Err(p),
    };
    // NONBLOCK: opening a FIFO someone placed in the tree must not hang the backup.
    let flags =
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY;
    let fd = match rustix::fs::openat(&dir, path.file_name(), flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(e) if e == Errno::NOENT => return Ok(None),
        Err(e) if e == Errno::LOOP => {
            return Err(PathProblem::Symlink {
                at: path.to_string(),
            });
        }
        Err(e) => return Err(unreadable(e.into())),
    };
    let stat = rustix::fs::fstat(&fd).map_err(|e| unreadable(e.into()))?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        return Err(PathProblem::NotRegularFile);
    }
    Ok(Some((File::from(fd), stat.st_size as u64)))
}

/// A file written under a temporary name next to its destination, waiting for [`commit`].
#[derive(Debug)]
pub(crate) struct TempFile {
    path: RelativePath,
    temp_name: String,
    /// How many of the path's last directories were created for it.
    created_dirs: usize,
}

/// Why a temporary file could not be made: the path is refused, or the disk said no.
#[derive(Debug)]
pub(crate) enum WriteRefused {
    Problem(PathProblem),
    Io(io::Error),
}

/// Creates a fresh temporary file in the destination's directory (made if missing), with
/// `O_CREAT | O_EXCL | O_NOFOLLOW`: it can never be an existing file or a link. The destination
/// itself must be absent or a regular file (a link there would be replaced by the rename, never
/// followed, but it is refused all the same: the tree is not what the restore expects).
pub(crate) fn create_temp(
    root: &Path,
    path: &RelativePath,
) -> Result<(File, TempFile), WriteRefused> {
    let mut created_dirs = 0;
    let dir = match walk(root, path.parent(), true, &mut created_dirs) {
        Ok(dir) => dir,
        Err(Refused::Problem(p)) => return Err(WriteRefused::Problem(p)),
        Err(Refused::Io(e)) => return Err(WriteRefused::Io(e)),
    };
    let temp = TempFile {
        path: path.clone(),
        temp_name: format!(".orgbackup-restore-{}.tmp", uuid::Uuid::new_v4().simple()),
        created_dirs,
    };
    match rustix::fs::statat(&dir, path.file_name(), AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => match FileType::from_raw_mode(stat.st_mode) {
            FileType::RegularFile => {}
            FileType::Symlink => {
                discard(root, &temp);
                return Err(WriteRefused::Problem(PathProblem::Symlink {
                    at: path.to_string(),
                }));
            }
            _ => {
                discard(root, &temp);
                return Err(WriteRefused::Problem(PathProblem::NotRegularFile));
            }
        },
        Err(e) if e == Errno::NOENT => {}
        Err(e) => return Err(WriteRefused::Io(e.into())),
    }
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    match rustix::fs::openat(
        &dir,
        temp.temp_name.as_str(),
        flags,
        Mode::from_raw_mode(0o644),
    ) {
        Ok(fd) => Ok((File::from(fd), temp)),
        Err(e) => {
            discard(root, &temp);
            Err(WriteRefused::Io(e.into()))
        }
    }
}

/// Moves a temporary file onto its destination (`renameat` within the same directory, opened
/// again without following links: a directory swapped for a link meanwhile is refused).
pub(crate) fn commit(root: &Path, temp: &TempFile) -> io::Result<()> {
    let dir = match walk(root, temp.path.parent(), false, &mut 0) {
        Ok(dir) => dir,
        Err(Refused::Io(e)) => return Err(e),
        Err(Refused::Problem(p)) => return Err(io::Error::other(p.to_string())),
    };
    rustix::fs::renameat(&dir, temp.temp_name.as_str(), &dir, temp.path.file_name())?;
    Ok(())
}

/// Removes a temporary file and the directories made for it (if they are empty). Best effort: it
/// runs on failure paths, where the first error is the one worth reporting.
pub(crate) fn discard(root: &Path, temp: &TempFile) {
    let parent = temp.path.parent();
    if let Ok(dir) = walk(root, parent, false, &mut 0) {
        let _ = rustix::fs::unlinkat(&dir, temp.temp_name.as_str(), AtFlags::empty());
    }
    for depth in (parent.len() - temp.created_dirs..parent.len()).rev() {
        if let Ok(dir) = walk(root, &parent[..depth], false, &mut 0) {
            let _ = rustix::fs::unlinkat(&dir, parent[depth].as_str(), AtFlags::REMOVEDIR);
        }
    }
}

impl TempFile {
    pub(crate) fn path(&self) -> &RelativePath {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::fs::symlink;

    fn parse(path: &str) -> RelativePath {
        RelativePath::parse(path).unwrap()
    }

    #[test]
    fn paths_are_normalized_and_escapes_refused() {
        assert_eq!(parse("./org/a/./b.png").to_string(), "org/a/b.png");
        assert_eq!(parse("org//b.png").to_string(), "org/b.png");
        assert_eq!(parse(r"org/a\b.png").parts(), ["org", r"a\b.png"]);
        assert_eq!(
            RelativePath::parse("../x"),
            Err(PathProblem::ParentComponent)
        );
        assert_eq!(
            RelativePath::parse("a/../../x"),
            Err(PathProblem::ParentComponent)
        );
        assert_eq!(
            RelativePath::parse("/etc/passwd"),
            Err(PathProblem::Absolute)
        );
        assert_eq!(RelativePath::parse("./"), Err(PathProblem::Empty));
        assert_eq!(RelativePath::parse("a\0b"), Err(PathProblem::Nul));
    }

    #[test]
    fn an_org_prefix_matches_whole_components() {
        let prefix = RelativePath::org_prefix("{org_id}/", "abc").unwrap();
        assert!(parse("abc/media/x.png").starts_with(&prefix));
        assert!(!parse("abcd/media/x.png").starts_with(&prefix));
        assert!(!parse("abc").starts_with(&prefix));
        assert!(RelativePath::org_prefix("{org_id}/", "..").is_err());
    }

    #[test]
    fn reads_never_follow_a_link_anywhere_in_the_path() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"outside").unwrap();
        std::fs::create_dir(root.path().join("org")).unwrap();
        std::fs::write(root.path().join("org/ok.txt"), b"hi").unwrap();
        symlink(outside.path(), root.path().join("org/dirlink")).unwrap();
        symlink(
            outside.path().join("secret"),
            root.path().join("org/filelink"),
        )
        .unwrap();

        let (mut file, size) = open_for_read(root.path(), &parse("org/ok.txt"))
            .unwrap()
            .unwrap();
        let mut text = String::new();
        file.read_to_string(&mut text).unwrap();
        assert_eq!((text.as_str(), size), ("hi", 2));
        assert!(
            open_for_read(root.path(), &parse("org/missing"))
                .unwrap()
                .is_none()
        );
        assert_eq!(
            open_for_read(root.path(), &parse("org/dirlink/secret")).unwrap_err(),
            PathProblem::Symlink {
                at: "org/dirlink".into()
            }
        );
        assert_eq!(
            open_for_read(root.path(), &parse("org/filelink")).unwrap_err(),
            PathProblem::Symlink {
                at: "org/filelink".into()
            }
        );
        assert_eq!(
            open_for_read(root.path(), &parse("org/ok.txt/x")).unwrap_err(),
            PathProblem::NotDirectory {
                at: "org/ok.txt".into()
            }
        );
        assert_eq!(
            open_for_read(root.path(), &parse("org")).unwrap_err(),
            PathProblem::NotRegularFile
        );
    }

    #[test]
    fn writes_go_through_a_temporary_file_and_never_through_a_link() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let (mut file, temp) = create_temp(root.path(), &parse("org/new/a.png")).unwrap();
        file.write_all(b"data").unwrap();
        assert!(!root.path().join("org/new/a.png").exists());
        commit(root.path(), &temp).unwrap();
        assert_eq!(
            std::fs::read(root.path().join("org/new/a.png")).unwrap(),
            b"data"
        );
        assert_eq!(
            std::fs::read_dir(root.path().join("org/new"))
                .unwrap()
                .count(),
            1
        );

        // A discarded write leaves neither its file nor the directories made for it.
        let (_, temp) = create_temp(root.path(), &parse("org/fresh/deep/b.png")).unwrap();
        discard(root.path(), &temp);
        assert!(!root.path().join("org/fresh").exists());

        symlink(outside.path(), root.path().join("org/dirlink")).unwrap();
        std::fs::write(outside.path().join("target"), b"keep").unwrap();
        symlink(
            outside.path().join("target"),
            root.path().join("org/filelink"),
        )
        .unwrap();
        assert!(matches!(
            create_temp(root.path(), &parse("org/dirlink/x.png")),
            Err(WriteRefused::Problem(PathProblem::Symlink { .. }))
        ));
        assert!(matches!(
            create_temp(root.path(), &parse("org/filelink")),
            Err(WriteRefused::Problem(PathProblem::Symlink { .. }))
        ));
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 1);
        assert_eq!(
            std::fs::read(outside.path().join("target")).unwrap(),
            b"keep"
        );
    }
}
