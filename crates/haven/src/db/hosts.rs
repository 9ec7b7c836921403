//! Several database hosts in one URL, and following the primary among them.
//!
//! `postgres://haven_app:…@db-a:5432,db-b:5432/haven?target_session_attrs=read-write` names a
//! primary and its standbys the way libpq does. sqlx connects to one host, so Haven splits the
//! list into one set of options per host and keeps the pool pointed at the one that accepts
//! writes: every new connection is checked (`pg_is_in_recovery()` must be false, else it is
//! dropped and the pool retries), and a watcher probes the hosts when the current one stops
//! being the primary and re-points the pool. Connections to a dead primary fail their ping
//! before use and are replaced (`test_before_acquire`), so after a failover the pool heals by
//! itself; meanwhile requests answer 503 and `/ready` is 503, never a hang (acquire timeout).

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection, PgPool};

/// How long one probe of one host may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The hosts of a database URL and whether a connection must be to the primary.
#[derive(Debug, Clone)]
pub struct Endpoints {
    hosts: Vec<PgConnectOptions>,
    read_write: bool,
}

/// Why a database URL was refused (never its text: it holds a password).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Not a `postgres://` URL sqlx accepts.
    #[error("not a valid PostgreSQL URL")]
    Invalid,
    /// `target_session_attrs` other than `read-write`, `primary` or `any`.
    #[error("target_session_attrs must be read-write, primary or any")]
    SessionAttrs,
}

impl Endpoints {
    /// One host: no primary check (a single server is whatever it is).
    #[must_use]
    pub fn single(options: PgConnectOptions) -> Self {
        Self {
            hosts: vec![options],
            read_write: false,
        }
    }

    /// Hosts given one by one, in the order they are tried; `None` when there are none.
    #[must_use]
    pub fn of(hosts: Vec<PgConnectOptions>, read_write: bool) -> Option<Self> {
        (!hosts.is_empty()).then_some(Self { hosts, read_write })
    }

    /// Parses `scheme://[user[:password]@]host[:port][,host[:port]…][/db][?params]`.
    /// `target_session_attrs=read-write|primary` (the default with several hosts) asks for the
    /// primary; `any` takes the first host that answers.
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let (head, rest) = url.split_once("://").ok_or(UrlError::Invalid)?;
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        let (userinfo, host_list) = match authority.rfind('@') {
            Some(at) => authority.split_at(at + 1),
            None => ("", authority),
        };
        let (tail, attrs) = take_session_attrs(tail);
        let hosts: Vec<&str> = host_list.split(',').collect();
        if hosts.len() > 1 && hosts.iter().any(|host| host.is_empty()) {
            return Err(UrlError::Invalid);
        }
        let read_write = match attrs.as_deref() {
            None => hosts.len() > 1,
            Some("read-write" | "primary") => true,
            Some("any") => false,
            Some(_) => return Err(UrlError::SessionAttrs),
        };
        let hosts = hosts
            .into_iter()
            .map(|host| {
                PgConnectOptions::from_str(&format!("{head}://{userinfo}{host}{tail}"))
                    .map_err(|_| UrlError::Invalid)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { hosts, read_write })
    }

    /// Whether connections must be to the primary.
    #[must_use]
    pub fn read_write(&self) -> bool {
        self.read_write
    }

    /// How many hosts.
    #[must_use]
    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    /// Never: a URL names at least one host.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    /// The first host's options (where a single connection goes before any probing).
    #[must_use]
    pub fn first(&self) -> PgConnectOptions {
        self.hosts[0].clone()
    }

    /// The same hosts with `change` applied to each (application name, session options).
    #[must_use]
    pub fn map(self, change: impl Fn(PgConnectOptions) -> PgConnectOptions) -> Self {
        Self {
            hosts: self.hosts.into_iter().map(change).collect(),
            read_write: self.read_write,
        }
    }

    /// The first host, in order, that answers and (when asked) is the primary.
    pub async fn find(&self) -> Option<PgConnectOptions> {
        for host in &self.hosts {
            if probe(host, self.read_write).await {
                return Some(host.clone());
            }
        }
        None
    }
}

/// How often the watcher checks that the pool's host is still the primary.
const FOLLOW_EVERY: Duration = Duration::from_secs(1);

/// Keeps `pool` pointed at the primary among `endpoints` until the pool is closed: once a
/// second, when the current host does not answer as the primary, the hosts are probed in order
/// and the pool's options move to the one that does.
pub fn follow_primary(pool: PgPool, endpoints: Endpoints) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(FOLLOW_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if pool.is_closed() {
                return;
            }
            let current = pool.connect_options();
            if probe(&current, endpoints.read_write).await {
                continue;
            }
            let Some(next) = endpoints.find().await else {
                tracing::warn!("no database host answers as the primary");
                continue;
            };
            if place(&next) != place(&current) {
                tracing::warn!(
                    host = next.get_host(),
                    port = next.get_port(),
                    "the database primary moved: new connections go there"
                );
                pool.set_connect_options(next);
            }
        }
    });
}

/// Where `options` connect: host, port, socket directory and database.
fn place(options: &PgConnectOptions) -> (&str, u16, Option<&std::path::PathBuf>, Option<&str>) {
    (
        options.get_host(),
        options.get_port(),
        options.get_socket(),
        options.get_database(),
    )
}

/// Whether `options` connects and (with `read_write`) is not in recovery.
pub async fn probe(options: &PgConnectOptions, read_write: bool) -> bool {
    let attempt = async {
        let mut conn = PgConnection::connect_with(options).await?;
        let usable = !read_write || is_primary(&mut conn).await?;
        conn.close().await?;
        Ok::<_, sqlx::Error>(usable)
    };
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, attempt).await,
        Ok(Ok(true))
    )
}

/// Whether the server of `conn` accepts writes: not in recovery, and not read-only by default
/// either (libpq's `read-write` test). A standby that pg_auto_failover has just promoted stays
/// `default_transaction_read_only` until the old primary is known demoted: no write may land
/// there before that.
pub async fn is_primary(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT NOT pg_is_in_recovery() AND current_setting('transaction_read_only') = 'off'",
    )
    .fetch_one(&mut *conn)
    .await
}

/// `tail` without its `target_session_attrs` parameter, and that parameter's value.
fn take_session_attrs(tail: &str) -> (String, Option<String>) {
    let Some((path, query)) = tail.split_once('?') else {
        return (tail.to_owned(), None);
    };
    let mut attrs = None;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| match pair.split_once('=') {
            Some(("target_session_attrs", value)) => {
                attrs = Some(value.to_owned());
                false
            }
            _ => !pair.is_empty(),
        })
        .collect();
    if kept.is_empty() {
        (path.to_owned(), attrs)
    } else {
        (format!("{path}?{}", kept.join("&")), attrs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_host_is_taken_as_it_is() {
        let endpoints = Endpoints::parse("postgres://app:pw@db:5433/haven").expect("parsed");
        assert_eq!(endpoints.len(), 1);
        assert!(!endpoints.read_write());
        let first = endpoints.first();
        assert_eq!(
            (first.get_host(), first.get_port(), first.get_database()),
            ("db", 5433, Some("haven"))
        );
    }

    #[test]
    fn several_hosts_follow_the_primary_by_default() {
        let endpoints = Endpoints::parse(
            "postgres://app:p%40ss@10.0.0.1:6101,10.0.0.2:6102/haven?sslmode=disable",
        )
        .expect("parsed");
        assert_eq!(endpoints.len(), 2);
        assert!(endpoints.read_write());
        let ports: Vec<u16> = endpoints.hosts.iter().map(|h| h.get_port()).collect();
        assert_eq!(ports, [6101, 6102]);
        assert!(
            endpoints
                .hosts
                .iter()
                .all(|h| h.get_username() == "app" && h.get_database() == Some("haven"))
        );
    }

    #[test]
    fn session_attrs_are_read_and_removed() {
        let endpoints = Endpoints::parse("postgres://app@a:1,b:2/haven?target_session_attrs=any")
            .expect("parsed");
        assert!(!endpoints.read_write());
        let endpoints = Endpoints::parse(
            "postgres://app@a:1/haven?target_session_attrs=read-write&application_name=x",
        )
        .expect("parsed");
        assert!(endpoints.read_write());
        assert_eq!(
            Endpoints::parse("postgres://app@a:1,b:2/haven?target_session_attrs=standby")
                .expect_err("refused"),
            UrlError::SessionAttrs
        );
    }

    #[test]
    fn malformed_lists_are_refused() {
        for url in [
            "not a url",
            "postgres://app@a:1,,b:2/haven",
            "postgres://app@a:1,b:x/haven",
        ] {
            assert_eq!(
                Endpoints::parse(url).expect_err("refused"),
                UrlError::Invalid,
                "{url}"
            );
        }
    }
}
