//! Which files make up a model, decided as model_signing 1.1 does (`_serialization/file.py`,
//! `serialization.py`, `hashing.Config.hash`) so that both compute the same manifest:
//!
//! - a single-file model is one item named `.`;
//! - a directory contributes every regular file below it, hidden ones included, named by its
//!   `/`-separated path relative to the model;
//! - an ignore path drops the file or directory of that relative path and everything below;
//! - symbolic links are an error unless allowed; allowed, a link to a file is hashed under the
//!   link's name and a link to a directory is not descended into (pathlib's `glob("**/*")`);
//! - anything else (sockets, FIFOs, broken links) is an error.
//!
//! Unlike model_signing, ignored directories are not walked at all, so a link inside `.git`
//! is no error.

use std::fs;
use std::path::{Component, Path, PathBuf};

use super::error::{Error, Result, io};

/// Paths model_signing ignores unless told otherwise (`ignore_git_paths`).
pub(crate) const GIT_PATHS: [&str; 4] = [".git", ".gitattributes", ".github", ".gitignore"];

/// One regular file of the model.
#[derive(Debug)]
pub(crate) struct File {
    /// Relative name with `/` separators; `.` for a single-file model.
    pub name: String,
    pub path: PathBuf,
    pub len: u64,
}

/// A model-relative path as `/`-joined normal components; `None` when it cannot name
/// anything inside the model (absolute, or climbing out with `..`).
pub(crate) fn normalize(p: &Path) -> Result<Option<String>> {
    let mut parts = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => parts.push(
                s.to_str()
                    .ok_or_else(|| Error::NonUtf8Path(p.to_path_buf()))?,
            ),
            Component::CurDir => {}
            _ => return Ok(None),
        }
    }
    Ok(Some(parts.join("/")))
}

fn ignored(name: &str, ignore: &[String]) -> bool {
    ignore.iter().any(|p| {
        name.strip_prefix(p.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// Lists the model's files (unsorted).
pub(crate) fn files(root: &Path, ignore: &[String], allow_symlinks: bool) -> Result<Vec<File>> {
    let link = fs::symlink_metadata(root).map_err(io(root))?;
    if link.file_type().is_symlink() && !allow_symlinks {
        return Err(Error::Symlink(root.to_path_buf()));
    }
    let meta = fs::metadata(root).map_err(io(root))?;
    if meta.is_file() {
        return Ok(vec![File {
            name: ".".into(),
            path: root.to_path_buf(),
            len: meta.len(),
        }]);
    }
    if !meta.is_dir() {
        return Err(Error::NotFileOrDir(root.to_path_buf()));
    }
    let mut out = Vec::new();
    let mut dirs = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = dirs.pop() {
        for entry in fs::read_dir(&dir).map_err(io(&dir))? {
            let entry = entry.map_err(io(&dir))?;
            let path = entry.path();
            let file_name = entry.file_name();
            let Some(name) = file_name.to_str() else {
                return Err(Error::NonUtf8Path(path));
            };
            let name = if prefix.is_empty() {
                name.to_string()
            } else {
                format!("{prefix}/{name}")
            };
            if ignored(&name, ignore) {
                continue;
            }
            let kind = entry.file_type().map_err(io(&path))?;
            if kind.is_symlink() {
                if !allow_symlinks {
                    return Err(Error::Symlink(path));
                }
                match fs::metadata(&path) {
                    Ok(m) if m.is_file() => out.push(File {
                        name,
                        path,
                        len: m.len(),
                    }),
                    Ok(m) if m.is_dir() => {}
                    _ => return Err(Error::NotFileOrDir(path)),
                }
            } else if kind.is_dir() {
                dirs.push((path, name));
            } else if kind.is_file() {
                let len = entry.metadata().map_err(io(&path))?.len();
                out.push(File { name, path, len });
            } else {
                return Err(Error::NotFileOrDir(path));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignore_matches_whole_components_only() {
        let ignore = vec![".git".to_string(), "sub/x".to_string()];
        assert!(ignored(".git", &ignore));
        assert!(ignored(".git/HEAD", &ignore));
        assert!(!ignored(".github", &ignore));
        assert!(!ignored("a/.git", &ignore));
        assert!(ignored("sub/x/y", &ignore));
        assert!(!ignored("sub/xy", &ignore));
    }

    #[test]
    fn normalize_drops_dots_and_refuses_escapes() {
        let n = |s: &str| normalize(Path::new(s)).ok().flatten();
        assert_eq!(n("./a//b/").as_deref(), Some("a/b"));
        assert_eq!(n("../a"), None);
        assert_eq!(n("/abs"), None);
        assert_eq!(n(".").as_deref(), Some(""));
    }
}
