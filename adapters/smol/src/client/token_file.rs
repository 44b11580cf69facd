//! [`FileStore`]: tokens in a file only its user can read, one file per server.

use std::fs::File;
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};

use super::oauth::{StoredAuth, TokenStore};

/// The largest token file read: a registered client and its tokens are a few KiB; anything
/// bigger is not ours.
const MAX_FILE_BYTES: u64 = 256 * 1024;

/// Tokens kept in a JSON file that only its owner may read or write (mode `0600`, in a
/// directory this store creates with mode `0700`).
///
/// A save writes a new file beside the old one and renames it over, so a reader (another run
/// of the same program) sees the old tokens or the new ones, never half of either. A file that
/// its group or others may read is not used: its tokens may have been read by someone else, and
/// are left for the user to look at. On platforms without Unix permissions the file is used as
/// it is.
///
/// # Examples
///
/// ```no_run
/// use std::sync::Arc;
///
/// use mcpwire_smol::client::Client;
/// use mcpwire_smol::client::oauth::{FileStore, OAuthConfig};
///
/// let url = "https://mcp.example/mcp";
/// let store = FileStore::for_server(url).expect("a home directory");
/// let builder = Client::builder(url)?
///     .oauth(OAuthConfig::authorization_code("http://127.0.0.1:8976/callback", "my-app"))
///     .token_store(Arc::new(store));
/// # Ok::<(), mcpwire_smol::client::ClientError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStore {
    path: PathBuf,
}

impl FileStore {
    /// The tokens for `server_url` in `dir`: the file is named by the SHA-256 of the URL (hex),
    /// so that one server's tokens never go to another and the name reveals nothing.
    #[must_use]
    pub fn in_dir(dir: impl Into<PathBuf>, server_url: &str) -> FileStore {
        use sha2::Digest as _;
        let hash = sha2::Sha256::digest(server_url.as_bytes());
        let name: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        FileStore {
            path: dir.into().join(format!("{name}.json")),
        }
    }

    /// The tokens for `server_url` in mcpwire's directory,
    /// `$XDG_CONFIG_HOME/mcpwire/tokens/` (else `$HOME/.config/mcpwire/tokens/`), or `None`
    /// when neither variable names an absolute directory.
    #[must_use]
    pub fn for_server(server_url: &str) -> Option<FileStore> {
        Some(FileStore::in_dir(default_dir()?, server_url))
    }

    /// Tokens in exactly this file.
    #[must_use]
    pub fn at(path: impl Into<PathBuf>) -> FileStore {
        FileStore { path: path.into() }
    }

    /// The file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the file holds: `None` when there is no file.
    ///
    /// # Errors
    ///
    /// The file cannot be read, is not a regular file, may be read by its group or others, is
    /// larger than 256 KiB, or is not a stored authorization (JSON).
    pub fn read(&self) -> io::Result<Option<StoredAuth>> {
        let file = match File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.error(e.kind(), &e.to_string())),
        };
        // The opened file's own metadata, so that what is checked is what is read.
        let metadata = file
            .metadata()
            .map_err(|e| self.error(e.kind(), &e.to_string()))?;
        if !metadata.is_file() {
            return Err(self.error(io::ErrorKind::InvalidData, "not a regular file"));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = metadata.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(self.error(
                    io::ErrorKind::PermissionDenied,
                    &format!(
                        "its group or others may read or write it (mode {mode:04o}), so it is not \
                         used; remove it, or chmod 600 it if no one else could have read it"
                    ),
                ));
            }
        }
        let mut text = Vec::new();
        file.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut text)
            .map_err(|e| self.error(e.kind(), &e.to_string()))?;
        if text.len() as u64 > MAX_FILE_BYTES {
            return Err(self.error(io::ErrorKind::InvalidData, "larger than 256 KiB"));
        }
        serde_json::from_slice(&text)
            .map(Some)
            .map_err(|e| self.error(io::ErrorKind::InvalidData, &format!("not JSON tokens: {e}")))
    }

    /// Replaces the file with `auth`: written to a file of its own (mode `0600`) in the same
    /// directory, then renamed over the old one. The directory is created (mode `0700`) if
    /// missing.
    ///
    /// # Errors
    ///
    /// The directory cannot be created, or the file cannot be written or renamed.
    pub fn write(&self, auth: &StoredAuth) -> io::Result<()> {
        let dir = match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        create_private_dir(dir).map_err(|e| {
            io::Error::new(e.kind(), format!("cannot create {}: {e}", dir.display()))
        })?;
        let text = serde_json::to_vec_pretty(auth)
            .map_err(|e| self.error(io::ErrorKind::InvalidData, &e.to_string()))?;
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce)
            .map_err(|e| self.error(io::ErrorKind::Other, &e.to_string()))?;
        let nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
        let temporary = dir.join(format!(".{name}.{nonce}.tmp"));
        let written =
            write_private(&temporary, &text).and_then(|()| std::fs::rename(&temporary, &self.path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&temporary);
            return Err(self.error(e.kind(), &e.to_string()));
        }
        Ok(())
    }

    fn error(&self, kind: io::ErrorKind, why: &str) -> io::Error {
        io::Error::new(
            kind,
            format!("the token file {}: {why}", self.path.display()),
        )
    }
}

impl TokenStore for FileStore {
    /// What the file holds; a file that cannot be used is logged (a warning) and ignored.
    fn load(&self) -> Option<StoredAuth> {
        self.read().unwrap_or_else(|e| {
            tracing::warn!("{e}");
            None
        })
    }

    /// Replaces the file; a failure is logged (a warning), and the tokens live on in the
    /// client until it closes.
    fn save(&self, auth: &StoredAuth) {
        if let Err(e) = self.write(auth) {
            tracing::warn!("{e}");
        }
    }
}

/// `$XDG_CONFIG_HOME/mcpwire/tokens`, else `$HOME/.config/mcpwire/tokens`; relative values are
/// ignored, as the XDG base directory specification says.
fn default_dir() -> Option<PathBuf> {
    let absolute = |name: &str| {
        std::env::var_os(name)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    let config = absolute("XDG_CONFIG_HOME").or_else(|| Some(absolute("HOME")?.join(".config")))?;
    Some(config.join("mcpwire").join("tokens"))
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Writes a new file at `path` that only its owner may read, and flushes it to disk (so that the
/// rename never exposes an empty file after a crash).
fn write_private(path: &Path, text: &[u8]) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text)?;
    file.sync_all()
}
