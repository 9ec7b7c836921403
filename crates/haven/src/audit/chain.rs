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

use sha2::{Digest, Sha256};

/// The `prev_hash` of a chain's first event.
pub const GENESIS: [u8; 32] = [0; 32];

/// One sealed event as the verifier reads it (text forms as described in the module docs).
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

/// The columns, in [`SealedRow`]'s shape, for a `SELECT ... FROM audit_log`.
pub const SEALED_COLUMNS: &str = "sequence, organization_id::text AS organization_id, id::text AS id, \
     (extract(epoch FROM occurred_at) * 1000000)::bigint AS occurred_at_us, \
     user_id::text AS user_id, role, action, entity_type, entity_id, \
     patient_id::text AS patient_id, access_method, outcome, host(ip) AS ip, user_agent, \
     request_id, details::text AS details, prev_hash, hash";

fn field(hasher: &mut Sha256, value: Option<&str>) {
    match value {
        None => hasher.update(b"-"),
        Some(v) => {
            hasher.update(format!("{}:", v.len()).as_bytes());
            hasher.update(v.as_bytes());
        }
    }
}

/// The hash the row should have, given the previous hash.
#[must_use]
pub fn expected_hash(prev: &[u8], row: &SealedRow) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(prev);
    hasher.update(b"haven-audit-v1|");
    field(&mut hasher, Some(&row.organization_id));
    field(&mut hasher, Some(&row.sequence.to_string()));
    field(&mut hasher, Some(&row.id));
    field(&mut hasher, Some(&row.occurred_at_us.to_string()));
    field(&mut hasher, row.user_id.as_deref());
    field(&mut hasher, row.role.as_deref());
    field(&mut hasher, Some(&row.action));
    field(&mut hasher, row.entity_type.as_deref());
    field(&mut hasher, row.entity_id.as_deref());
    field(&mut hasher, row.patient_id.as_deref());
    field(&mut hasher, Some(&row.access_method));
    field(&mut hasher, Some(&row.outcome));
    field(&mut hasher, row.ip.as_deref());
    field(&mut hasher, row.user_agent.as_deref());
    field(&mut hasher, row.request_id.as_deref());
    field(&mut hasher, Some(&row.details));
    hasher.finalize().into()
}

/// Walks one chain in sequence order and remembers the first break.
#[derive(Debug)]
pub struct ChainWalker {
    expected_sequence: i64,
    prev: [u8; 32],
    checked: u64,
    broken_at: Option<i64>,
}

impl Default for ChainWalker {
    fn default() -> Self {
        Self {
            expected_sequence: 1,
            prev: GENESIS,
            checked: 0,
            broken_at: None,
        }
    }
}

impl ChainWalker {
    /// Checks the next row; returns false once the chain is broken (stop feeding it).
    pub fn push(&mut self, row: &SealedRow) -> bool {
        if self.broken_at.is_some() {
            return false;
        }
        let intact = row.sequence == self.expected_sequence
            && row.prev_hash == self.prev
            && row.hash == expected_hash(&self.prev, row);
        if !intact {
            // A missing row shows at the sequence that should have been there.
            self.broken_at = Some(self.expected_sequence.min(row.sequence));
            return false;
        }
        self.checked += 1;
        self.expected_sequence += 1;
        self.prev.copy_from_slice(&row.hash);
        true
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
