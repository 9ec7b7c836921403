//! The server settings file that haven-pg manages inside the data directory.
//!
//! The settings live in their own file, `haven.conf`, rewritten at every start
//! and pulled in once from the end of `postgresql.conf` with
//! `include_if_exists`. Rewriting a separate file (instead of editing
//! `postgresql.conf`) keeps our changes idempotent and lets a changed socket
//! directory, port or test setting take effect at the next start.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::Error;
use crate::run_as::RunAs;

/// The settings file we own, relative to the data directory.
pub(crate) const CONF_FILE: &str = "haven.conf";

/// The line appended to `postgresql.conf`. A relative include is resolved
/// against the directory of the including file, i.e. the data directory.
const INCLUDE_LINE: &str = "include_if_exists = 'haven.conf'";

/// Settings that haven-pg always sets itself: overriding them could open a
/// TCP listener or move the socket out of its private directory, which would
/// make `trust` authentication unsafe.
const RESERVED: [&str; 4] = [
    "listen_addresses",
    "port",
    "unix_socket_directories",
    "unix_socket_permissions",
];

/// Checks that every extra setting can be written safely.
pub(crate) fn validate_settings(settings: &[(String, String)]) -> Result<(), Error> {
    for (key, value) in settings {
        let invalid = |problem: &str| Error::InvalidSetting {
            key: key.clone(),
            problem: problem.to_owned(),
        };
        if key.is_empty()
            || !key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_' || b == b'.')
        {
            return Err(invalid(
                "setting names may only contain lowercase letters, `_` and `.`",
            ));
        }
        if RESERVED.contains(&key.as_str()) {
            return Err(invalid(
                "it is managed by haven-pg (the server only listens on its private Unix socket)",
            ));
        }
        if value.contains('\0') {
            return Err(invalid("the value contains a NUL character"));
        }
    }
    Ok(())
}

/// Quotes a value for a PostgreSQL configuration file: single quotes are
/// doubled, and since the parser also interprets backslash escapes inside
/// quoted strings, backslashes and line breaks are escaped too.
pub(crate) fn quote(value: &str) -> String {
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('\'');
    for c in value.chars() {
        match c {
            '\'' => quoted.push_str("''"),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            c => quoted.push(c),
        }
    }
    quoted.push('\'');
    quoted
}

/// The contents of `haven.conf`. The fixed settings come last so that they
/// win even if validation were bypassed.
pub(crate) fn render(socket_dir: &Path, port: u16, settings: &[(String, String)]) -> String {
    let mut conf = String::from(
        "# Written by haven-pg at every server start; changes here are overwritten.\n",
    );
    for (key, value) in settings {
        conf.push_str(&format!("{key} = {}\n", quote(value)));
    }
    conf.push_str("listen_addresses = ''\n");
    conf.push_str(&format!(
        "unix_socket_directories = {}\n",
        quote(&socket_dir.to_string_lossy())
    ));
    conf.push_str("unix_socket_permissions = 0700\n");
    conf.push_str(&format!("port = {port}\n"));
    conf
}

/// Writes `haven.conf` (atomically, owned by the server's user) and makes
/// sure `postgresql.conf` includes it.
pub(crate) fn write(data_dir: &Path, contents: &str, run_as: Option<&RunAs>) -> Result<(), Error> {
    let target = data_dir.join(CONF_FILE);
    let tmp = data_dir.join(format!("{CONF_FILE}.tmp"));
    // A leftover from an interrupted write might have other permissions.
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(Error::io("create", &tmp))?;
    file.write_all(contents.as_bytes())
        .map_err(Error::io("write", &tmp))?;
    if let Some(user) = run_as {
        user.chown(&tmp)?;
    }
    std::fs::rename(&tmp, &target).map_err(Error::io("replace", &target))?;
    ensure_included(&data_dir.join("postgresql.conf"))
}

/// Appends the include line to `postgresql.conf` unless it is already there.
fn ensure_included(postgresql_conf: &Path) -> Result<(), Error> {
    let current =
        std::fs::read_to_string(postgresql_conf).map_err(Error::io("read", postgresql_conf))?;
    if current.lines().any(|line| line.trim() == INCLUDE_LINE) {
        return Ok(());
    }
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(postgresql_conf)
        .map_err(Error::io("open", postgresql_conf))?;
    let separator = if current.ends_with('\n') || current.is_empty() {
        ""
    } else {
        "\n"
    };
    write!(
        file,
        "{separator}\n# Added by haven-pg: the settings Haven manages.\n{INCLUDE_LINE}\n"
    )
    .map_err(Error::io("append to", postgresql_conf))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting(key: &str, value: &str) -> Vec<(String, String)> {
        vec![(key.to_owned(), value.to_owned())]
    }

    #[test]
    fn quotes_values() {
        assert_eq!(quote("off"), "'off'");
        assert_eq!(quote("it's"), "'it''s'");
        assert_eq!(quote(r"C:\x"), r"'C:\\x'");
        assert_eq!(quote("a\nb"), r"'a\nb'");
    }

    #[test]
    fn validates_keys() {
        assert!(validate_settings(&setting("fsync", "off")).is_ok());
        assert!(validate_settings(&setting("auto_explain.log_min_duration", "0")).is_ok());
        for bad in ["", "Fsync", "fsync = on\nport", "a b", "x1"] {
            let err = validate_settings(&setting(bad, "off")).expect_err(bad);
            assert!(matches!(err, Error::InvalidSetting { .. }), "{err}");
        }
        let err = validate_settings(&setting("listen_addresses", "*")).expect_err("reserved");
        assert!(err.to_string().contains("managed by haven-pg"), "{err}");
        assert!(validate_settings(&setting("fsync", "o\0ff")).is_err());
    }

    #[test]
    fn renders_fixed_settings_last() {
        let conf = render(Path::new("/run/x y"), 5433, &setting("fsync", "off"));
        let lines: Vec<&str> = conf.lines().collect();
        assert_eq!(
            &lines[1..],
            [
                "fsync = 'off'",
                "listen_addresses = ''",
                "unix_socket_directories = '/run/x y'",
                "unix_socket_permissions = 0700",
                "port = 5433",
            ]
        );
    }

    #[test]
    fn include_is_added_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let conf = dir.path().join("postgresql.conf");
        std::fs::write(&conf, "port = 5432").expect("write conf");
        ensure_included(&conf).expect("first include");
        ensure_included(&conf).expect("second include");
        let text = std::fs::read_to_string(&conf).expect("read conf");
        assert_eq!(text.matches(INCLUDE_LINE).count(), 1, "{text}");
        assert!(text.starts_with("port = 5432\n"), "{text}");
    }
}
