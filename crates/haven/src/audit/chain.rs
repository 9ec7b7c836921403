//! The hash chain, verified independently of the database.
//!
//! Each organization's events form one chain: sequence 1, 2, 3... without gaps, and
//! `hash = SHA-256(prev_hash ‖ canonical bytes)`, where `prev_hash` is the previous event's
//! hash (32 zero bytes before the first). The canonical bytes are the UTF-8 text
//!
//! ```text
//! haven-audit-v1|F(organization_id)F(sequence)F(id)F(occurred_at)F(user_id)F(role)F(action)
//!   F(entity_type)F(entity_id)F(patient_id)F(access_method)F(outcome)F(ip)F(user_agent)
//!   F(request_id)F(details)
//! ```
//!
//! where `F(NULL) = "-"` and `F(v) = "<byte length of v>:<v>"`, ids are lowercase hyphenated
//! UUIDs, `occurred_at` is integer microseconds since the Unix epoch (the database's own
//! precision: no formatting, no rounding, so verification never reports false tampering), `ip`
//! is PostgreSQL's `host()` text and `details` its canonical `jsonb` text (deterministic for a
//! given value, so an edited detail changes the hash). The sealer and the verifier both use
//! [`expected_hash`]; the verifier recomputes it from the stored columns alone.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The `prev_hash` of a chain's first event.
pub const GENESIS: [u8; 32] = [0; 32];

/// One event in the text forms of the module docs, as the sealer reads it from the outbox.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SealedRow {
    /// Position in the chain.
    pub sequence: i64,
    /// `organization_id::text`.
    pub organization_id: String,
    /// `id::text`.
    pub id: String,
    /// Microseconds since the epoch.
    pub occurred_at_us: i64,
    /// `user_id::text`.
    pub user_id: Option<String>,
    /// Role.
    pub role: Option<String>,
    /// Action.
    pub action: String,
    /// Entity type.
    pub entity_type: Option<String>,
    /// Entity id.
    pub entity_id: Option<String>,
    /// `patient_id::text`.
    pub patient_id: Option<String>,
    /// Access method.
    pub access_method: String,
    /// Outcome.
    pub outcome: String,
    /// `host(ip)`.
    pub ip: Option<String>,
    /// User agent.
    pub user_agent: Option<String>,
    /// Request id.
    pub request_id: Option<String>,
    /// `details::text`.
    pub details: String,
    /// The stored previous hash.
    pub prev_hash: Vec<u8>,
    /// The stored hash.
    pub hash: Vec<u8>,
}

/// The canonical fields of one row, in hashing order (see the module docs), borrowed from
/// whichever form the row was read in.
struct Canonical<'a> {
    organization_id: &'a str,
    sequence: i64,
    id: &'a str,
    occurred_at_us: i64,
    user_id: Option<&'a str>,
    role: Option<&'a str>,
    action: &'a str,
    entity_type: Option<&'a str>,
    entity_id: Option<&'a str>,
    patient_id: Option<&'a str>,
    access_method: &'a str,
    outcome: &'a str,
    ip: Option<&'a str>,
    user_agent: Option<&'a str>,
    request_id: Option<&'a str>,
    details: &'a str,
}

/// `n` in decimal, into `buf`, without allocating.
fn decimal(n: i64, buf: &mut [u8; 20]) -> &[u8] {
    let negative = n < 0;
    let mut rest = n.unsigned_abs();
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + u8::try_from(rest % 10).unwrap_or(0);
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if negative {
        at -= 1;
        buf[at] = b'-';
    }
    &buf[at..]
}

fn text(v: &str) -> Option<&[u8]> {
    Some(v.as_bytes())
}

fn optional(v: Option<&str>) -> Option<&[u8]> {
    v.map(str::as_bytes)
}

fn field(hasher: &mut Sha256, value: Option<&[u8]>) {
    match value {
        None => hasher.update(b"-"),
        Some(v) => {
            let mut buf = [0u8; 20];
            hasher.update(decimal(
                i64::try_from(v.len()).unwrap_or(i64::MAX),
                &mut buf,
            ));
            hasher.update(b":");
            hasher.update(v);
        }
    }
}

impl Canonical<'_> {
    fn hash(&self, prev: &[u8]) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(prev);
        hasher.update(b"haven-audit-v1|");
        field(&mut hasher, text(self.organization_id));
        let mut buf = [0u8; 20];
        field(&mut hasher, Some(decimal(self.sequence, &mut buf)));
        field(&mut hasher, text(self.id));
        let mut buf = [0u8; 20];
        field(&mut hasher, Some(decimal(self.occurred_at_us, &mut buf)));
        field(&mut hasher, optional(self.user_id));
        field(&mut hasher, optional(self.role));
        field(&mut hasher, text(self.action));
        field(&mut hasher, optional(self.entity_type));
        field(&mut hasher, optional(self.entity_id));
        field(&mut hasher, optional(self.patient_id));
        field(&mut hasher, text(self.access_method));
        field(&mut hasher, text(self.outcome));
        field(&mut hasher, optional(self.ip));
        field(&mut hasher, optional(self.user_agent));
        field(&mut hasher, optional(self.request_id));
        field(&mut hasher, text(self.details));
        hasher.finalize().into()
    }
}

/// The hash the row should have, given the previous hash.
#[must_use]
pub fn expected_hash(prev: &[u8], row: &SealedRow) -> [u8; 32] {
    Canonical {
        organization_id: &row.organization_id,
        sequence: row.sequence,
        id: &row.id,
        occurred_at_us: row.occurred_at_us,
        user_id: row.user_id.as_deref(),
        role: row.role.as_deref(),
        action: &row.action,
        entity_type: row.entity_type.as_deref(),
        entity_id: row.entity_id.as_deref(),
        patient_id: row.patient_id.as_deref(),
        access_method: &row.access_method,
        outcome: &row.outcome,
        ip: row.ip.as_deref(),
        user_agent: row.user_agent.as_deref(),
        request_id: row.request_id.as_deref(),
        details: &row.details,
    }
    .hash(prev)
}

/// One sealed event as the verifier streams it: ids and the time in their binary forms (no
/// per-row text conversion in the database; the canonical text is made here, without
/// allocating), `ip` and `details` as the text the hash covers.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredRow {
    /// Position in the chain.
    pub sequence: i64,
    /// The organization.
    pub organization_id: Uuid,
    /// The event's id.
    pub id: Uuid,
    /// When it happened (microsecond precision, as stored).
    pub occurred_at: DateTime<Utc>,
    /// The user.
    pub user_id: Option<Uuid>,
    /// Role.
    pub role: Option<String>,
    /// Action.
    pub action: String,
    /// Entity type.
    pub entity_type: Option<String>,
    /// Entity id.
    pub entity_id: Option<String>,
    /// The patient.
    pub patient_id: Option<Uuid>,
    /// Access method.
    pub access_method: String,
    /// Outcome.
    pub outcome: String,
    /// `host(ip)`.
    pub ip: Option<String>,
    /// User agent.
    pub user_agent: Option<String>,
    /// Request id.
    pub request_id: Option<String>,
    /// `details::text`.
    pub details: String,
    /// The stored previous hash.
    pub prev_hash: Vec<u8>,
    /// The stored hash.
    pub hash: Vec<u8>,
}

/// The columns, in [`StoredRow`]'s shape, for a `SELECT ... FROM audit_log`.
pub const STORED_COLUMNS: &str = "sequence, organization_id, id, occurred_at, user_id, role, \
     action, entity_type, entity_id, patient_id, access_method, outcome, host(ip) AS ip, \
     user_agent, request_id, details::text AS details, prev_hash, hash";

/// A chain row: what [`ChainWalker`] checks.
pub trait ChainRow {
    /// Its sequence.
    fn sequence(&self) -> i64;
    /// Its stored previous hash.
    fn prev_hash(&self) -> &[u8];
    /// Its stored hash.
    fn hash(&self) -> &[u8];
    /// The hash it should have after `prev`.
    fn expected_hash(&self, prev: &[u8]) -> [u8; 32];
}

impl ChainRow for SealedRow {
    fn sequence(&self) -> i64 {
        self.sequence
    }
    fn prev_hash(&self) -> &[u8] {
        &self.prev_hash
    }
    fn hash(&self) -> &[u8] {
        &self.hash
    }
    fn expected_hash(&self, prev: &[u8]) -> [u8; 32] {
        expected_hash(prev, self)
    }
}

impl ChainRow for StoredRow {
    fn sequence(&self) -> i64 {
        self.sequence
    }
    fn prev_hash(&self) -> &[u8] {
        &self.prev_hash
    }
    fn hash(&self) -> &[u8] {
        &self.hash
    }
    fn expected_hash(&self, prev: &[u8]) -> [u8; 32] {
        let mut ids = [[0u8; 36]; 4];
        let [org, id, user, patient] = &mut ids;
        let user_id = self.user_id.map(|u| &*u.hyphenated().encode_lower(user));
        let patient_id = self
            .patient_id
            .map(|p| &*p.hyphenated().encode_lower(patient));
        Canonical {
            organization_id: self.organization_id.hyphenated().encode_lower(org),
            sequence: self.sequence,
            id: self.id.hyphenated().encode_lower(id),
            occurred_at_us: self.occurred_at.timestamp_micros(),
            user_id,
            role: self.role.as_deref(),
            action: &self.action,
            entity_type: self.entity_type.as_deref(),
            entity_id: self.entity_id.as_deref(),
            patient_id,
            access_method: &self.access_method,
            outcome: &self.outcome,
            ip: self.ip.as_deref(),
            user_agent: self.user_agent.as_deref(),
            request_id: self.request_id.as_deref(),
            details: &self.details,
        }
        .hash(prev)
    }
}

/// Walks one chain (or one segment of it) in sequence order and remembers the first break.
#[derive(Debug)]
pub struct ChainWalker {
    expected_sequence: i64,
    prev: [u8; 32],
    /// A segment's start: the first row's `prev_hash` is taken as given (and kept, for joining
    /// the segment to the one before) instead of compared.
    open_start: bool,
    entry_prev: Option<[u8; 32]>,
    checked: u64,
    broken_at: Option<i64>,
}

impl Default for ChainWalker {
    fn default() -> Self {
        Self {
            expected_sequence: 1,
            prev: GENESIS,
            open_start: false,
            entry_prev: None,
            checked: 0,
            broken_at: None,
        }
    }
}

impl ChainWalker {
    /// A walker for the segment that starts at `sequence` (after 1: its first row's
    /// `prev_hash` is joined to the previous segment by [`ChainWalker::entry_prev`]).
    #[must_use]
    pub fn segment(sequence: i64) -> Self {
        Self {
            expected_sequence: sequence,
            open_start: sequence > 1,
            ..Self::default()
        }
    }

    /// Checks the next row; returns false once the chain is broken (stop feeding it).
    pub fn push(&mut self, row: &impl ChainRow) -> bool {
        if self.broken_at.is_some() {
            return false;
        }
        if self.open_start && self.checked == 0 && row.sequence() == self.expected_sequence {
            match <[u8; 32]>::try_from(row.prev_hash()) {
                Ok(prev) => {
                    self.prev = prev;
                    self.entry_prev = Some(prev);
                }
                Err(_) => {
                    self.broken_at = Some(self.expected_sequence);
                    return false;
                }
            }
        }
        let intact = row.sequence() == self.expected_sequence
            && row.prev_hash() == self.prev
            && row.hash() == row.expected_hash(&self.prev);
        if !intact {
            // A missing row shows at the sequence that should have been there.
            self.broken_at = Some(self.expected_sequence.min(row.sequence()));
            return false;
        }
        self.checked += 1;
        self.expected_sequence += 1;
        self.prev.copy_from_slice(row.hash());
        true
    }

    /// A segment's first `prev_hash`, as stored (before any row: `None`).
    #[must_use]
    pub fn entry_prev(&self) -> Option<[u8; 32]> {
        self.entry_prev
    }

    /// Rows checked and found intact.
    #[must_use]
    pub fn checked(&self) -> u64 {
        self.checked
    }

    /// The first broken sequence, if any.
    #[must_use]
    pub fn broken_at(&self) -> Option<i64> {
        self.broken_at
    }

    /// The last intact sequence and hash.
    #[must_use]
    pub fn head(&self) -> (i64, [u8; 32]) {
        (self.expected_sequence - 1, self.prev)
    }

    /// Marks a break at `sequence` found by other means (a checkpoint the chain falls short of).
    pub fn break_at(&mut self, sequence: i64) {
        self.broken_at.get_or_insert(sequence);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(sequence: i64, prev: &[u8; 32]) -> SealedRow {
        let mut row = SealedRow {
            sequence,
            organization_id: "01a2033a-4b7b-7208-8cbd-61843cf45878".into(),
            id: format!("01a2033a-4b7b-7208-8cbd-61843cf4587{sequence}"),
            occurred_at_us: 1_795_000_000_123_456,
            user_id: None,
            role: Some("ADMIN".into()),
            action: "PATIENT_READ".into(),
            entity_type: Some("patient".into()),
            entity_id: Some("x".into()),
            patient_id: None,
            access_method: "normal".into(),
            outcome: "success".into(),
            ip: Some("127.0.0.1".into()),
            user_agent: None,
            request_id: None,
            details: "{}".into(),
            prev_hash: prev.to_vec(),
            hash: Vec::new(),
        };
        row.hash = expected_hash(prev, &row).to_vec();
        row
    }

    #[test]
    fn an_intact_chain_walks_to_the_end() {
        let first = row(1, &GENESIS);
        let second = row(2, &first.hash.clone().try_into().expect("32 bytes"));
        let mut walker = ChainWalker::default();
        assert!(walker.push(&first) && walker.push(&second));
        assert_eq!((walker.checked(), walker.broken_at()), (2, None));
    }

    #[test]
    fn an_edit_a_gap_or_a_swap_breaks_it() {
        let first = row(1, &GENESIS);
        let second = row(2, &first.hash.clone().try_into().expect("32 bytes"));
        let third = row(3, &second.hash.clone().try_into().expect("32 bytes"));

        let mut edited = second.clone();
        edited.outcome = "denied".into();
        let mut walker = ChainWalker::default();
        walker.push(&first);
        assert!(!walker.push(&edited));
        assert_eq!(walker.broken_at(), Some(2));

        let mut walker = ChainWalker::default();
        walker.push(&first);
        assert!(!walker.push(&third));
        assert_eq!(walker.broken_at(), Some(2), "the missing row is named");

        let mut walker = ChainWalker::default();
        assert!(!walker.push(&second));
        assert_eq!(walker.broken_at(), Some(1));
    }

    #[test]
    fn null_and_empty_encode_differently() {
        let mut a = row(1, &GENESIS);
        a.user_agent = None;
        let mut b = a.clone();
        b.user_agent = Some(String::new());
        assert_ne!(expected_hash(&GENESIS, &a), expected_hash(&GENESIS, &b));
    }
}
