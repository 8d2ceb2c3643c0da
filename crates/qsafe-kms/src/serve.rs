//! Serving the plugin on a unix socket, the only transport kube-apiserver dials for KMS
//! (`endpoint: unix:///path/to.sock` in the `EncryptionConfiguration`).
//!
//! - A socket file left by a plugin that died is removed; a path that holds anything else
//!   (a regular file, a directory, a socket another process still listens on) is refused.
//! - The socket is bound inside a fresh directory of mode 0700 next to the final path, made
//!   mode 0600, and renamed into place, so it is never reachable with wider permissions than
//!   0600 — not even between `bind` and `chmod`. Only the plugin's user (root, as
//!   kube-apiserver runs) can connect. The temporary path is about 20 bytes longer than the
//!   final one; unix socket paths are limited to 107 bytes.
//! - When `shutdown` completes the server stops accepting, finishes the requests in flight,
//!   and removes the socket file if it is still the one it created.

use std::future::Future;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tokio::net::UnixListener;
use tokio_stream::wrappers::UnixListenerStream;

use crate::{Error, Plugin, Result};

/// Serves `plugin` on the unix socket `socket_path` until `shutdown` completes.
pub async fn serve(
    plugin: Plugin,
    socket_path: impl AsRef<Path>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<()> {
    let path = socket_path.as_ref();
    let (listener, identity) = bind_private(path)?;
    let served = tonic::transport::Server::builder()
        .add_service(plugin.into_service())
        .serve_with_incoming_shutdown(UnixListenerStream::new(listener), shutdown)
        .await;
    // Remove the socket only if it is still ours (a successor may have replaced it).
    if let Ok(meta) = std::fs::symlink_metadata(path)
        && (meta.dev(), meta.ino()) == identity
    {
        let _ = std::fs::remove_file(path);
    }
    Ok(served?)
}

/// Removes a stale socket at `path`, or refuses what must not be removed.
fn clear_stale(path: &Path) -> Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::socket("inspect", path, e)),
    };
    let in_use = |reason: &str| Error::SocketInUse {
        path: path.display().to_string(),
        reason: reason.to_owned(),
    };
    if !meta.file_type().is_socket() {
        return Err(in_use(
            "exists and is not a socket; refusing to replace it (choose another --socket path)",
        ));
    }
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => Err(in_use(
            "another process is listening on this socket; stop it first (two plugins must not \
             share a socket)",
        )),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            std::fs::remove_file(path).map_err(|e| Error::socket("remove stale socket", path, e))
        }
        Err(e) => Err(Error::socket("probe existing socket", path, e)),
    }
}

/// Binds a listener reachable only at `path`, mode 0600; returns it with the socket file's
/// (device, inode).
fn bind_private(path: &Path) -> Result<(UnixListener, (u64, u64))> {
    let file_name = path.file_name().ok_or_else(|| Error::SocketInUse {
        path: path.display().to_string(),
        reason: "is not a file path".into(),
    })?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    clear_stale(path)?;
    let private = private_dir(&parent)?;
    let result = (|| {
        let tmp = private.join(file_name);
        let listener = UnixListener::bind(&tmp).map_err(|e| Error::socket("bind", &tmp, e))?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| Error::socket("set mode 0600 on", &tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::socket("move socket to", path, e))?;
        let meta =
            std::fs::symlink_metadata(path).map_err(|e| Error::socket("inspect", path, e))?;
        Ok((listener, (meta.dev(), meta.ino())))
    })();
    let _ = std::fs::remove_dir_all(&private);
    result
}

/// A new directory of mode 0700 in `parent`.
fn private_dir(parent: &Path) -> Result<PathBuf> {
    let pid = std::process::id();
    let mut last = None;
    for n in 0..16u32 {
        let dir = parent.join(format!(".qkms-{pid}-{n}"));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(Error::socket("create a private directory in", parent, e)),
        }
    }
    Err(Error::socket(
        "create a private directory in",
        parent,
        last.unwrap_or_else(|| std::io::Error::other("no free name")),
    ))
}
