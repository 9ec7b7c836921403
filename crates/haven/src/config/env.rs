//! Reading settings from the environment, with `*_FILE` variants for secrets.

use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;

use secrecy::SecretString;

use super::ConfigError;

/// A source of `HAVEN_*` variables: the process environment, or a map in tests.
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
}

impl Env {
    /// The process environment (only `HAVEN_*` variables are kept).
    #[must_use]
    pub fn from_process() -> Self {
        Self::from_pairs(std::env::vars().filter(|(key, _)| key.starts_with("HAVEN_")))
    }

    /// Explicit variables, for tests and tools.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// A plain setting; empty counts as unset.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A plain setting parsed with `FromStr`, or `default` when unset.
    pub fn parse_or<T: FromStr>(&self, key: &'static str, default: T) -> Result<T, ConfigError> {
        match self.get(key) {
            None => Ok(default),
            Some(raw) => raw.trim().parse().map_err(|_| ConfigError::Invalid {
                key,
                reason: format!("cannot parse {raw:?}"),
            }),
        }
    }

    /// A path setting.
    pub fn path(&self, key: &str) -> Option<PathBuf> {
        self.get(key).map(PathBuf::from)
    }

    /// A secret given either as `KEY` or as a file named by `KEY_FILE` (not both). Trailing
    /// newlines of the file are dropped. The value itself never appears in an error.
    pub fn secret(&self, key: &'static str) -> Result<Option<SecretString>, ConfigError> {
        let file_key = format!("{key}_FILE");
        match (self.get(key), self.get(&file_key)) {
            (Some(_), Some(_)) => Err(ConfigError::Invalid {
                key,
                reason: format!("set either {key} or {file_key}, not both"),
            }),
            (Some(value), None) => Ok(Some(SecretString::from(value.to_owned()))),
            (None, Some(path)) => {
                let contents = std::fs::read_to_string(path).map_err(|e| ConfigError::Invalid {
                    key,
                    reason: format!("cannot read {file_key} ({path}): {e}"),
                })?;
                let value = contents.trim_end_matches(['\n', '\r']);
                if value.is_empty() {
                    return Err(ConfigError::Invalid {
                        key,
                        reason: format!("{file_key} ({path}) is empty"),
                    });
                }
                Ok(Some(SecretString::from(value.to_owned())))
            }
            (None, None) => Ok(None),
        }
    }
}
