//! The in-memory cache of unwrapped organization keys.
//!
//! Unwrapping costs an AES-GCM open (and, for `key_by_id`, a query), and a list of patients
//! decrypts hundreds of fields under a handful of keys: a warm read must do neither. The cache is
//! bounded so a deployment with many organizations cannot grow it without limit; when full, the
//! oldest entry goes (a later use simply unwraps it again).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use uuid::Uuid;
use zeroize::Zeroizing;

use super::Purpose;
use crate::ids::OrganizationId;

/// Raw key bytes, shared between the cache and the keys handed out; zeroized when the last
/// holder drops them.
pub(super) type KeyBytes = Arc<Zeroizing<[u8; 32]>>;

/// How many keys stay unwrapped: two per organization (data, blind) plus a few retired data
/// keys for thousands of organizations, at 32 bytes each.
pub(super) const DEFAULT_CAPACITY: usize = 4096;

type Slot = (OrganizationId, Uuid);

/// A bounded map (organization, key id) → (purpose, key), evicting the oldest insertion.
pub(super) struct KeyCache {
    entries: HashMap<Slot, (Purpose, KeyBytes)>,
    order: VecDeque<Slot>,
    capacity: usize,
}

impl KeyCache {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// The key, if cached with this purpose: a key id found under another purpose is a miss, so
    /// a blob naming the blind key's id can never make it a data key.
    pub(super) fn get(
        &self,
        organization: OrganizationId,
        id: Uuid,
        purpose: Purpose,
    ) -> Option<KeyBytes> {
        match self.entries.get(&(organization, id)) {
            Some((cached, key)) if *cached == purpose => Some(Arc::clone(key)),
            _ => None,
        }
    }

    pub(super) fn insert(
        &mut self,
        organization: OrganizationId,
        id: Uuid,
        purpose: Purpose,
        key: KeyBytes,
    ) {
        let slot = (organization, id);
        if self.entries.contains_key(&slot) {
            return;
        }
        while self.entries.len() >= self.capacity {
            match self.order.pop_front() {
                Some(oldest) => {
                    self.entries.remove(&oldest);
                }
                None => break,
            }
        }
        self.entries.insert(slot, (purpose, key));
        self.order.push_back(slot);
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> KeyBytes {
        Arc::new(Zeroizing::new([byte; 32]))
    }

    #[test]
    fn the_cache_stays_bounded_and_evicts_the_oldest() {
        let org = OrganizationId::new();
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let mut cache = KeyCache::new(2);

        for (i, id) in ids.iter().enumerate() {
            cache.insert(
                org,
                *id,
                Purpose::Data,
                key(u8::try_from(i).expect("small")),
            );
        }

        assert_eq!(cache.len(), 2);
        assert!(cache.get(org, ids[0], Purpose::Data).is_none());
        assert!(cache.get(org, ids[2], Purpose::Data).is_some());
    }

    #[test]
    fn a_key_is_found_only_under_its_organization_and_purpose() {
        let org = OrganizationId::new();
        let id = Uuid::now_v7();
        let mut cache = KeyCache::new(8);
        cache.insert(org, id, Purpose::Blind, key(7));

        assert!(cache.get(org, id, Purpose::Blind).is_some());
        assert!(cache.get(org, id, Purpose::Data).is_none());
        assert!(
            cache
                .get(OrganizationId::new(), id, Purpose::Blind)
                .is_none()
        );
    }
}
