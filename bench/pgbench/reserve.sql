-- POST /api/sessions {authorizationId, startTime: now, expectedUnits: 1} by an ADMIN, as the SQL
-- Haven sends for it (pgbench -M prepared, as the app role haven_app, so row-level security
-- applies exactly as for Haven). Mirrors api/therapy_sessions/reserve.rs.
--
-- Variables (-D), set by `haven-bench reserve --pgbench DIR` from the organization it seeded:
--   org, user            the organization and its ADMIN (a real row in users)
--   authorizations       how many authorizations haven-bench inserted for pgbench (as the
--                        owner, same columns as POST /api/authorizations, 100,000 units each,
--                        covering today), with ids 00000000-0000-4000-8000-<i, 12 digits>: the
--                        script picks one at random by computing its id from i (the HTTP load
--                        reserves on the ones it created through the API; both sets are in the
--                        table)
--   day                  the UTC day of the session (Haven binds the day of startTime)
--   ip, rid              what the audit row records: client address, a request id
--
-- Differences from Haven, by necessity: the authorization id is computed from a random i by an
-- expression; the session's and the audit event's UUIDv7 are made by the server
-- (haven_units.uuid_v7(), as the cleanup does) instead of in the process; startTime is now();
-- constants Haven binds as parameters are literals; the audit details are built with
-- jsonb_build_object; sqlx's Sync round trip on each pool checkout has no equivalent.

-- auth::caller's MFA gate (does the organization require MFA this admin lacks?) is asked at
-- most once a second per admin (auth/mfa_gate.rs): under load it is not part of a request.

-- api/therapy_sessions/reserve.rs.
\set i random(1, :authorizations)
BEGIN;
-- db/tenant.rs: TenantTx::begin
SELECT set_config('app.current_organization_id', :org, true), set_config('app.current_user_id', :user, true);
-- units/ledger.rs: hold → store/authorizations.rs: take_for_session (one conditional UPDATE;
-- max_minutes = 24 × 60)
UPDATE authorizations SET used_units = used_units + 1 WHERE organization_id = :org AND id = ('00000000-0000-4000-8000-' || lpad(:i::text, 12, '0'))::uuid AND status = 'ACTIVE' AND used_units + 1 <= total_units AND :day BETWEEN start_date AND end_date AND 1 * unit_minutes <= 1440 RETURNING id, patient_id, unit_minutes, total_units, used_units, low_units_threshold
\gset a_
-- api/authorizations/lookup.rs: access_to → policy.rs: patient_access → store/btg.rs:
-- active_for (an emergency grant comes first; the ADMIN role then allows, no query)
SELECT id FROM btg_grants WHERE organization_id = :org AND granted_to_user_id = :user AND patient_id = :a_patient_id AND revoked_at IS NULL AND expires_at > now() ORDER BY expires_at DESC LIMIT 1;
-- units/ledger.rs: record_reservation → store/sessions_units.rs: insert_reserved (session and
-- its RESERVE ledger row in one statement)
WITH s AS (INSERT INTO therapy_sessions (organization_id, id, authorization_id, patient_id, clinician_id, start_time, reserved_units, unit_minutes, created_by) VALUES (:org, haven_units.uuid_v7(), :a_id, :a_patient_id, NULL, now(), 1, :a_unit_minutes, :user) RETURNING id, authorization_id, patient_id, clinician_id, start_time, reserved_units, unit_minutes, actual_units, actual_minutes, status, cancel_reason, started_at, completed_at, cancelled_at, created_at, updated_at), l AS (INSERT INTO unit_ledger (organization_id, authorization_id, session_id, kind, units, user_id, reason) SELECT :org, s.authorization_id, s.id, 'RESERVE', s.reserved_units, :user, 'session reserved' FROM s) SELECT id, authorization_id, patient_id, clinician_id, start_time, reserved_units, unit_minutes, actual_units, actual_minutes, status, cancel_reason, started_at, completed_at, cancelled_at, created_at, updated_at FROM s
\gset s_
-- audit/event.rs: record (SESSION_RESERVE)
INSERT INTO audit_outbox (organization_id, id, occurred_at, user_id, role, action, entity_type, entity_id, patient_id, access_method, outcome, ip, user_agent, request_id, details) VALUES (:org, haven_units.uuid_v7(), now(), :user, 'ADMIN', 'SESSION_RESERVE', 'session', :s_id, :a_patient_id, 'normal', 'success', :ip::inet, NULL, :rid, jsonb_build_object('authorizationId', :a_id::text, 'units', 1, 'remainingUnits', :a_total_units::int - :a_used_units::int));
COMMIT;
