//! Revocation is immediate (SPEC §5): after a logout, a revoked or reused refresh family, a
//! disabled account or a changed role, every access token of that session (or user) is refused
//! on every instance within a second, without a database round trip per request.
//!
//! Each instance holds a [`Revocations`] set in memory: the sessions (refresh families) revoked,
//! and the users whose tokens were ended (`users.tokens_valid_after`), within the lifetime of an
//! access token plus the clock skew and a margin. Older entries cannot matter: every token they
//! could refuse has expired. A background task re-reads the set every [`REFRESH_INTERVAL`]
//! (two cross-organization look-ups through SECURITY DEFINER functions), and an instance that
//! ends tokens itself re-reads it at once ([`Revocations::refresh_now`]). Checking a token
//! ([`Revocations::check`]) is a look-up in memory, never a query.
//!
//! A set that could not be re-read for [`MAX_STALENESS`] (the database unreachable) is not
//! trusted: tokens are then neither accepted nor refused ([`Verdict::Unknown`]).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use uuid::Uuid;

use super::token::{AccessClaims, LEEWAY_SECS};
use crate::db::AppPool;
use crate::domain::Role;
use crate::ids::UserId;
use crate::store::{sessions, users};

/// How often every instance re-reads the set: the worst case from a revocation to its refusal
/// on another instance is this plus one small query, well within the second SPEC §5 allows.
pub const REFRESH_INTERVAL: Duration = Duration::from_millis(500);

/// A set older than this is not trusted (see [`Verdict::Unknown`]).
pub const MAX_STALENESS: Duration = Duration::from_secs(30);

/// Kept beyond the tokens' lifetime and skew: covers clock differences between the database and
/// the instances, and a token issued by a refresh that read the account just before the change
/// committed.
const MARGIN: Duration = Duration::from_secs(60);

/// What the set says about an access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing revokes it.
    Valid,
    /// Its session was revoked, or its user's tokens were ended.
    Revoked,
    /// The set could not be re-read for [`MAX_STALENESS`]: this instance does not know.
    Unknown,
}

/// What a credential was issued under: a user in a role, in a login session, at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// The user.
    pub user: UserId,
    /// Their role when it was issued.
    pub role: Role,
    /// The login session (refresh family).
    pub session: Uuid,
    /// When it was issued, in Unix seconds.
    pub issued_at: i64,
}

/// What ended a user's tokens, as last read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct UserEpoch {
    /// Tokens issued in a second before this one are refused (`iat` has whole seconds; one
    /// issued in the second of the change is judged by its role and the disabled flag).
    valid_after: i64,
    /// The user's role now: a token naming another is refused.
    role: Role,
    /// A disabled account's tokens are all refused.
    disabled: bool,
}

/// The set as read at one instant.
#[derive(Debug)]
struct Snapshot {
    sessions: HashSet<Uuid>,
    users: HashMap<UserId, UserEpoch>,
    /// When the read that produced it began.
    read_at: Instant,
}

impl Snapshot {
    fn verdict(&self, grant: &Grant, now: Instant) -> Verdict {
        if now.saturating_duration_since(self.read_at) > MAX_STALENESS {
            return Verdict::Unknown;
        }
        if self.sessions.contains(&grant.session) {
            return Verdict::Revoked;
        }
        match self.users.get(&grant.user) {
            // A token issued in the very second of the change (`iat` has whole seconds) passes
            // the epoch, but not the role or disabled check when it predates the change.
            Some(user) if user.disabled || user.role != grant.role => Verdict::Revoked,
            Some(user) if grant.issued_at < user.valid_after => Verdict::Revoked,
            _ => Verdict::Valid,
        }
    }
}

/// The revoked sessions and ended user tokens of the last few minutes, in memory. Cheap to
/// clone (shared).
#[derive(Debug, Clone)]
pub struct Revocations(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    pool: AppPool,
    /// How far back the set reaches, in seconds.
    window_seconds: i32,
    current: RwLock<Arc<Snapshot>>,
    /// One read at a time, so that an older read never replaces a newer one.
    refreshing: tokio::sync::Mutex<()>,
}

impl Revocations {
    /// Reads the set for access tokens living `access_token_ttl`; fails when the database cannot
    /// be read (an instance must not start without it).
    pub async fn load(pool: AppPool, access_token_ttl: Duration) -> Result<Self, sqlx::Error> {
        let window = access_token_ttl + Duration::from_secs(LEEWAY_SECS) + MARGIN;
        let revocations = Self(Arc::new(Inner {
            pool,
            window_seconds: i32::try_from(window.as_secs()).unwrap_or(i32::MAX),
            current: RwLock::new(Arc::new(Snapshot {
                sessions: HashSet::new(),
                users: HashMap::new(),
                // Never seen: replaced by the read below, or dropped with it.
                read_at: Instant::now(),
            })),
            refreshing: tokio::sync::Mutex::new(()),
        }));
        revocations.refresh_now().await?;
        Ok(revocations)
    }

    /// Whether `claims` (a verified access token) is revoked. A look-up in memory.
    #[must_use]
    pub fn check(&self, claims: &AccessClaims) -> Verdict {
        self.check_grant(&Grant {
            user: claims.sub,
            role: claims.role,
            session: claims.sid,
            issued_at: claims.iat,
        })
    }

    /// Whether what `grant` was issued under (a session, a user in a role) has since been
    /// revoked: the same verdict as [`Self::check`], for credentials that are not access tokens
    /// (an open realtime socket re-checks its ticket's grant with this).
    #[must_use]
    pub fn check_grant(&self, grant: &Grant) -> Verdict {
        let snapshot = Arc::clone(
            &self
                .0
                .current
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        );
        snapshot.verdict(grant, Instant::now())
    }

    /// Re-reads the set now: after this instance ended tokens (so that it refuses them at once),
    /// and from the background task.
    pub async fn refresh_now(&self) -> Result<(), sqlx::Error> {
        let inner = &self.0;
        let _one_at_a_time = inner.refreshing.lock().await;
        let read_at = Instant::now();
        let pool = inner.pool.platform().pool();
        let sessions = sessions::recently_revoked(pool, inner.window_seconds).await?;
        let epochs = users::recent_token_epochs(pool, inner.window_seconds).await?;
        let snapshot = Snapshot {
            sessions: sessions.into_iter().collect(),
            users: epochs
                .into_iter()
                .map(|epoch| {
                    (
                        epoch.user_id,
                        UserEpoch {
                            valid_after: epoch.tokens_valid_after.timestamp(),
                            role: epoch.role,
                            disabled: epoch.disabled,
                        },
                    )
                })
                .collect(),
            read_at,
        };
        *inner
            .current
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(snapshot);
        Ok(())
    }

    /// Re-reads the set every `period` until aborted (or until the set is dropped). Failures
    /// are logged when they start and when they end, not at every tick.
    pub fn spawn_refresher(&self, period: Duration) -> JoinHandle<()> {
        let weak: Weak<Inner> = Arc::downgrade(&self.0);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(period);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut failing = false;
            loop {
                ticker.tick().await;
                let Some(inner) = weak.upgrade() else {
                    return;
                };
                match (Revocations(inner).refresh_now().await, failing) {
                    (Ok(()), true) => {
                        failing = false;
                        tracing::info!("reading the revoked sessions works again");
                    }
                    (Err(error), false) => {
                        failing = true;
                        tracing::error!(
                            error = %crate::telemetry::loggable(&error),
                            "reading the revoked sessions failed; access tokens are answered \
                             with 503 if it keeps failing"
                        );
                    }
                    (Ok(()), false) | (Err(_), true) => {}
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(user: UserId, role: Role, session: Uuid, issued_at: i64) -> Grant {
        Grant {
            user,
            role,
            session,
            issued_at,
        }
    }

    fn snapshot(sessions: &[Uuid], users: &[(UserId, UserEpoch)]) -> Snapshot {
        Snapshot {
            sessions: sessions.iter().copied().collect(),
            users: users.iter().copied().collect(),
            read_at: Instant::now(),
        }
    }

    const T: i64 = 1_800_000_000;

    #[test]
    fn a_token_of_a_revoked_session_is_refused_and_others_pass() {
        let revoked = Uuid::now_v7();
        let set = snapshot(&[revoked], &[]);
        let now = Instant::now();

        let user = UserId::new();
        assert_eq!(
            set.verdict(&claims(user, Role::Admin, revoked, T), now),
            Verdict::Revoked
        );
        assert_eq!(
            set.verdict(&claims(user, Role::Admin, Uuid::now_v7(), T), now),
            Verdict::Valid
        );
    }

    #[test]
    fn tokens_issued_before_the_users_epoch_are_refused() {
        let user = UserId::new();
        let epoch = UserEpoch {
            valid_after: T,
            role: Role::Billing,
            disabled: false,
        };
        let set = snapshot(&[], &[(user, epoch)]);
        let now = Instant::now();

        let before = claims(user, Role::Billing, Uuid::now_v7(), T - 1);
        let same_second = claims(user, Role::Billing, Uuid::now_v7(), T);
        let other_user = claims(UserId::new(), Role::Admin, Uuid::now_v7(), T - 1);
        assert_eq!(set.verdict(&before, now), Verdict::Revoked);
        assert_eq!(set.verdict(&same_second, now), Verdict::Valid);
        assert_eq!(set.verdict(&other_user, now), Verdict::Valid);
    }

    #[test]
    fn a_token_naming_the_old_role_or_of_a_disabled_account_is_refused_even_after_the_epoch() {
        let (demoted, disabled) = (UserId::new(), UserId::new());
        let set = snapshot(
            &[],
            &[
                (
                    demoted,
                    UserEpoch {
                        valid_after: T,
                        role: Role::Billing,
                        disabled: false,
                    },
                ),
                (
                    disabled,
                    UserEpoch {
                        valid_after: T,
                        role: Role::Clinician,
                        disabled: true,
                    },
                ),
            ],
        );
        let now = Instant::now();

        let old_role = claims(demoted, Role::Admin, Uuid::now_v7(), T);
        let of_disabled = claims(disabled, Role::Clinician, Uuid::now_v7(), T + 5);
        assert_eq!(set.verdict(&old_role, now), Verdict::Revoked);
        assert_eq!(set.verdict(&of_disabled, now), Verdict::Revoked);
    }

    #[test]
    fn a_set_not_read_for_too_long_is_not_trusted() {
        let set = snapshot(&[], &[]);
        let token = claims(UserId::new(), Role::Admin, Uuid::now_v7(), T);

        let fresh = set.read_at + MAX_STALENESS;
        let stale = set.read_at + MAX_STALENESS + Duration::from_millis(1);
        assert_eq!(set.verdict(&token, fresh), Verdict::Valid);
        assert_eq!(set.verdict(&token, stale), Verdict::Unknown);
    }
}
