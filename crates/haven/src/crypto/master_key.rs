//! The master key: the key-encryption key that wraps every other key Haven stores (signing keys,
//! per-organization data keys). 32 random bytes, given base64-encoded.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretBox};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::config::{ConfigError, Env};

const KEY_LEN: usize = 32;

/// A random 32-byte key is all but certain to have far more distinct bytes than this; a key with
/// fewer was typed by a person or derived from a pattern.
const MIN_DISTINCT_BYTES: usize = 16;

/// The master key. Zeroized on drop, redacted in `Debug`.
pub struct MasterKey(SecretBox<[u8; KEY_LEN]>);

impl Clone for MasterKey {
    fn clone(&self) -> Self {
        Self(SecretBox::new(Box::new(*self.expose())))
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([REDACTED])")
    }
}

/// Why a master key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    /// Not base64 of exactly 32 bytes.
    #[error(
        "the master key must be base64 of exactly 32 random bytes (e.g. `openssl rand -base64 32`)"
    )]
    Malformed,
    /// Decodes, but does not look random.
    #[error(
        "the master key is weak (too few distinct bytes); generate one with `openssl rand -base64 32`"
    )]
    Weak,
    /// The key file is readable by others.
    #[error(
        "{path}: mode {mode:04o} lets others read the master key; it must be 0600 or stricter (chmod 600 {path})"
    )]
    Permissions {
        /// The file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// The deployment's generated key file does not exist, and this operation must not make one.
    #[error(
        "{path} does not exist: set HAVEN_MASTER_KEY_FILE (or HAVEN_MASTER_KEY) to the \
         deployment's master key"
    )]
    NotGenerated {
        /// The key file expected.
        path: String,
    },
    /// `HAVEN_PREVIOUS_MASTER_KEY(_FILE)` holds the master key itself.
    #[error(
        "HAVEN_PREVIOUS_MASTER_KEY(_FILE) holds the same key as the master key: unset it once a \
         rotation is over"
    )]
    PreviousIsCurrent,
    /// Reading or creating the key file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What failed.
        source: std::io::Error,
    },
}

impl MasterKey {
    /// Decodes a base64 key and refuses one that is not 32 bytes or looks weak.
    pub fn from_base64(encoded: &str) -> Result<Self, MasterKeyError> {
        let bytes = Zeroizing::new(
            STANDARD
                .decode(encoded.trim())
                .map_err(|_| MasterKeyError::Malformed)?,
        );
        let key: [u8; KEY_LEN] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| MasterKeyError::Malformed)?;
        let mut seen = [false; 256];
        for byte in key {
            seen[usize::from(byte)] = true;
        }
        if seen.iter().filter(|s| **s).count() < MIN_DISTINCT_BYTES {
            return Err(MasterKeyError::Weak);
        }
        Ok(Self(SecretBox::new(Box::new(key))))
    }

    /// The raw key, for the key-wrapping code only.
    #[must_use]
    pub fn expose(&self) -> &[u8; KEY_LEN] {
        self.0.expose_secret()
    }

    /// A 256-bit key for one `purpose` (`"csrf"`, `"mfa-secrets"`...), derived with
    /// HMAC-SHA256 as a PRF (NIST SP 800-108), so each use of the master key has its own key and
    /// none reveals another.
    #[must_use]
    pub fn derive(&self, purpose: &str) -> Zeroizing<[u8; KEY_LEN]> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.expose())
            .expect("HMAC takes keys of any length");
        mac.update(b"haven/kdf/v1/");
        mac.update(purpose.as_bytes());
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        key.copy_from_slice(&mac.finalize().into_bytes());
        key
    }

    /// A random key, base64-encoded (key files; tests).
    #[must_use]
    pub fn generate_base64() -> Zeroizing<String> {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        // The OS RNG failing means the machine cannot do cryptography at all.
        getrandom::fill(key.as_mut_slice()).expect("the operating system's RNG is unavailable");
        Zeroizing::new(STANDARD.encode(key.as_slice()))
    }
}

/// Where the master key comes from.
#[derive(Debug)]
pub enum MasterKeySource {
    /// `HAVEN_MASTER_KEY`, already decoded and checked.
    Inline(MasterKey),
    /// `HAVEN_MASTER_KEY_FILE`: refused unless mode 0600 or stricter.
    File(PathBuf),
    /// Neither set: `<data_dir>/master.key`, generated (mode 0600) on first start. Refused in
    /// production.
    Generate {
        /// The key file.
        path: PathBuf,
    },
}

impl MasterKeySource {
    /// Reads `HAVEN_MASTER_KEY` / `HAVEN_MASTER_KEY_FILE`.
    pub fn from_env(env: &Env, data_dir: &Path) -> Result<Self, ConfigError> {
        let invalid = |reason: String| ConfigError::Invalid {
            key: "HAVEN_MASTER_KEY",
            reason,
        };
        match (
            env.get("HAVEN_MASTER_KEY"),
            env.path("HAVEN_MASTER_KEY_FILE"),
        ) {
            (Some(_), Some(_)) => Err(invalid(
                "set either HAVEN_MASTER_KEY or HAVEN_MASTER_KEY_FILE, not both".into(),
            )),
            (Some(encoded), None) => MasterKey::from_base64(encoded)
                .map(Self::Inline)
                .map_err(|e| invalid(e.to_string())),
            (None, Some(path)) => Ok(Self::File(path)),
            (None, None) => Ok(Self::Generate {
                path: data_dir.join("master.key"),
            }),
        }
    }

    /// `HAVEN_PREVIOUS_MASTER_KEY` / `HAVEN_PREVIOUS_MASTER_KEY_FILE`: the key being replaced,
    /// held beside the master key while `haven keys rotate-master` re-wraps what it wrapped.
    /// Never generated.
    pub fn previous_from_env(env: &Env) -> Result<Option<Self>, ConfigError> {
        let invalid = |reason: String| ConfigError::Invalid {
            key: "HAVEN_PREVIOUS_MASTER_KEY",
            reason,
        };
        match (
            env.get("HAVEN_PREVIOUS_MASTER_KEY"),
            env.path("HAVEN_PREVIOUS_MASTER_KEY_FILE"),
        ) {
            (Some(_), Some(_)) => Err(invalid(
                "set either HAVEN_PREVIOUS_MASTER_KEY or HAVEN_PREVIOUS_MASTER_KEY_FILE, not both"
                    .into(),
            )),
            (Some(encoded), None) => MasterKey::from_base64(encoded)
                .map(|key| Some(Self::Inline(key)))
                .map_err(|e| invalid(e.to_string())),
            (None, Some(path)) => Ok(Some(Self::File(path))),
            (None, None) => Ok(None),
        }
    }

    /// The key of a deployment that already has one: like [`MasterKeySource::load`], but a
    /// missing generated key file is an error rather than a new key (restores, rotations: a
    /// new key could open nothing).
    pub fn load_existing(&self) -> Result<MasterKey, MasterKeyError> {
        if let Self::Generate { path } = self
            && !path.exists()
        {
            return Err(MasterKeyError::NotGenerated {
                path: path.display().to_string(),
            });
        }
        self.load()
    }

    /// Produces the key: decoded already, read from its file, or generated on first use.
    pub fn load(&self) -> Result<MasterKey, MasterKeyError> {
        match self {
            Self::Inline(key) => Ok(key.clone()),
            Self::File(path) => read_key_file(path),
            Self::Generate { path } => {
                if !path.exists() {
                    create_key_file(path)?;
                }
                read_key_file(path)
            }
        }
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> MasterKeyError + '_ {
    move |source| MasterKeyError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn read_key_file(path: &Path) -> Result<MasterKey, MasterKeyError> {
    let mode = fs::metadata(path)
        .map_err(io_error(path))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(MasterKeyError::Permissions {
            path: path.display().to_string(),
            mode,
        });
    }
    let encoded = Zeroizing::new(fs::read_to_string(path).map_err(io_error(path))?);
    MasterKey::from_base64(&encoded)
}

fn create_key_file(path: &Path) -> Result<(), MasterKeyError> {
    if let Some(dir) = path.parent() {
        // Traversable by others (an embedded cluster may run as another user), not listable.
        DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(dir)
            .map_err(io_error(dir))?;
    }
    let encoded = MasterKey::generate_base64();
    // create_new: never overwrite a key that appeared meanwhile; mode 0600 from the first byte.
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io_error(path))?;
    file.write_all(encoded.as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all())
        .map_err(io_error(path))?;
    tracing::info!(path = %path.display(), "generated a new master key");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("haven-mk-{}", uuid::Uuid::new_v4()));
        fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn generated_key_file_is_private_and_stable() {
        let dir = temp_dir();
        let path = dir.join("master.key");
        let first = MasterKeySource::Generate { path: path.clone() }
            .load()
            .expect("generates");
        let mode = fs::metadata(&path).expect("exists").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let second = MasterKeySource::Generate { path: path.clone() }
            .load()
            .expect("reuses");
        assert_eq!(first.expose(), second.expose());
        fs::remove_dir_all(dir).expect("cleanup");
    }

    #[test]
    fn key_file_readable_by_others_is_refused() {
        let dir = temp_dir();
        let path = dir.join("key");
        fs::write(&path, MasterKey::generate_base64().as_bytes()).expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = MasterKeySource::File(path.clone())
            .load()
            .expect_err("refused");
        assert!(matches!(
            err,
            MasterKeyError::Permissions { mode: 0o644, .. }
        ));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).expect("chmod");
        assert!(MasterKeySource::File(path).load().is_ok());
        fs::remove_dir_all(dir).expect("cleanup");
    }

    #[test]
    fn malformed_and_weak_keys_are_refused() {
        assert!(matches!(
            MasterKey::from_base64("not base64!"),
            Err(MasterKeyError::Malformed)
        ));
        assert!(matches!(
            MasterKey::from_base64(&STANDARD.encode([7u8; 16])),
            Err(MasterKeyError::Malformed)
        ));
        assert!(matches!(
            MasterKey::from_base64(&STANDARD.encode([0u8; 32])),
            Err(MasterKeyError::Weak)
        ));
        let pattern: Vec<u8> = (0..32).map(|i| b"abcd"[i % 4]).collect();
        assert!(matches!(
            MasterKey::from_base64(&STANDARD.encode(pattern)),
            Err(MasterKeyError::Weak)
        ));
        assert!(MasterKey::from_base64(&MasterKey::generate_base64()).is_ok());
    }

    #[test]
    fn debug_never_shows_the_key() {
        let encoded = MasterKey::generate_base64();
        let key = MasterKey::from_base64(&encoded).expect("valid");
        let shown = format!("{key:?}");
        assert!(shown.contains("REDACTED"));
        assert!(!shown.contains(encoded.as_str()));
    }
}
