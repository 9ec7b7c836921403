//! The steps of a booking that are not HTTP: the ordered advisory locks, the availability
//! check, and the insert whose exclusion violations become [`ScheduleError::Conflict`].
//!
//! The constraints are the guarantee; the locks make concurrent bookings of one clinician or
//! one patient queue (clinician key and patient key, smaller first) so that they fail cleanly
//! on the constraint instead of deadlocking on each other's index entries. A deadlock or
//! serialization failure that still happens is retried by the caller a bounded number of
//! times ([`MAX_ATTEMPTS`], [`super::is_retryable`]).

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::ScheduleError;
use crate::db::TenantTx;
use crate::ids::{OrganizationId, PatientId, UserId};
use crate::policy::capability::Schedule;
use crate::store::appointments::{self, AppointmentRow, NewAppointment};
use crate::telemetry::metrics;

/// How many times a booking transaction runs before a deadlock or serialization failure is
/// reported.
pub const MAX_ATTEMPTS: u32 = 4;

fn key(kind: &str, org: OrganizationId, id: uuid::Uuid) -> i64 {
    let mut hash = Sha256::new();
    hash.update(kind.as_bytes());
    hash.update(org.as_uuid().as_bytes());
    hash.update(id.as_bytes());
    let digest = hash.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// Takes the booking locks of `clinicians` and `patient` (ascending keys), held until the
/// transaction ends.
pub async fn lock(
    tx: &mut TenantTx,
    clinicians: &[UserId],
    patient: PatientId,
) -> Result<(), sqlx::Error> {
    let org = tx.organization_id();
    let mut keys: Vec<i64> = clinicians
        .iter()
        .map(|c| key("clinician", org, c.as_uuid()))
        .collect();
    keys.push(key("patient", org, patient.as_uuid()));
    appointments::lock_keys(tx, &keys).await
}

/// `Ok` when `[start, end)` is within the clinician's availability for `service_code`, or
/// when `overridden` (the caller's policy allowed it); else OUTSIDE_AVAILABILITY.
pub async fn check_availability(
    tx: &mut TenantTx,
    clinician: UserId,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    service_code: &str,
    overridden: bool,
) -> Result<(), ScheduleError> {
    if overridden
        || appointments::within_availability(tx, clinician, start, end, service_code).await?
    {
        Ok(())
    } else {
        metrics::appointment("outside_availability");
        Err(ScheduleError::OutsideAvailability)
    }
}

/// Writes the appointment; an overlap is the conflict its constraint names.
pub async fn insert(
    tx: &mut TenantTx,
    may: &Schedule,
    new: &NewAppointment,
) -> Result<AppointmentRow, ScheduleError> {
    match appointments::insert(tx, may, new).await {
        Ok(row) => {
            metrics::appointment("booked");
            Ok(row)
        }
        Err(error) => {
            let error = ScheduleError::from(error);
            if matches!(error, ScheduleError::Conflict(_)) {
                metrics::appointment("conflict");
            }
            Err(error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::key;
    use crate::ids::OrganizationId;

    #[test]
    fn lock_keys_differ_by_kind_and_organization() {
        let id = uuid::Uuid::now_v7();
        let org = OrganizationId::new();
        assert_ne!(key("clinician", org, id), key("patient", org, id));
        assert_ne!(
            key("clinician", org, id),
            key("clinician", OrganizationId::new(), id)
        );
        assert_eq!(key("patient", org, id), key("patient", org, id));
    }
}
