-- POST /api/appointments {patientId, clinicianId, start, durationMinutes: 60, serviceCode: 97153,
-- authorizationId} by a SCHEDULER, as the SQL Haven sends for it (pgbench -M prepared, as the
-- app role haven_app, so row-level security applies exactly as for Haven). Mirrors
-- api/appointments/create.rs (attempt_booking), statement by statement, in the order Haven sends
-- them (read off sqlx's query log of a release build, HAVEN_LOG=sqlx::query=debug). A SCHEDULER
-- has no MFA transaction (auth::caller asks only ADMIN and SUPER_ADMIN) and no emergency-grant
-- look-up (policy::patients::access asks only ADMIN, CLINICIAN and BILLING).
--
-- Variables (-D), set by `haven-bench book --pgbench DIR` from the practice it seeded:
--   org, user            the organization and its SCHEDULER
--   clinician_ids        the clinicians' ids, as an array literal {…}; clinicians: how many
--   patient_ids          the patients' ids; patients: how many
--   authorization_ids    authorization_ids[p] is patient_ids[p]'s (100,000 units, 15 min each)
--   first                the first booking number after the HTTP load's (its times are taken)
--   clients, k (= 0)     pgbench's clients, and a per-client counter (pgbench keeps a client's
--                        variables from one transaction to the next)
--   epoch0               00:00 UTC of tomorrow, in seconds since the epoch
--   ip, rid              what the audit rows record: client address, a request id
-- Booking n = first + (k - 1) × clients + client_id is the HTTP load's assignment continued:
-- clinician n % clinicians, patient (and authorization) n % patients, one-hour slot
-- n / clinicians (day slot / 9 from epoch0, at 08:00 + slot % 9 hours UTC); so no two
-- bookings overlap and every transaction commits.
--
-- Differences from Haven, by necessity: the ids, the advisory-lock keys (Haven: the first 8
-- bytes of SHA-256 over kind, organization and id, computed in the process) and the times are
-- picked by one SELECT before the transaction (an extra round trip Haven does not make); the
-- session's, the appointment's and the audit events' UUIDv7 are made by the server
-- (haven_units.uuid_v7()) instead of in the process, and occurred_at is now(); the two locks
-- are taken smaller key first with least()/greatest() (Haven sorts the keys in the process);
-- constants Haven binds as parameters are literals; the audit details are built with
-- jsonb_build_object; sqlx's Sync round trip on each pool checkout has no equivalent.

\set k :k + 1
\set n :first + (:k - 1) * :clients + :client_id
\set ci 1 + :n % :clinicians
\set pi 1 + :n % :patients
\set slot :n / :clinicians
\set s :epoch0 + (:slot / 9) * 86400 + (8 + :slot % 9) * 3600
SELECT c AS clinician, p AS patient, a AS authz, to_timestamp(:s) AS start_at, to_timestamp(:s + 3600) AS end_at, (to_timestamp(:s) AT TIME ZONE 'UTC')::date AS day, least(hashtextextended('clinician' || :org || c, 0), hashtextextended('patient' || :org || p, 0)) AS lock1, greatest(hashtextextended('clinician' || :org || c, 0), hashtextextended('patient' || :org || p, 0)) AS lock2 FROM (SELECT (:clinician_ids::uuid[])[:ci] AS c, (:patient_ids::uuid[])[:pi] AS p, (:authorization_ids::uuid[])[:pi] AS a) ids
\gset

BEGIN;
-- db/tenant.rs: TenantTx::begin
SELECT set_config('app.current_organization_id', :org, true), set_config('app.current_user_id', :user, true);
-- api/clinicians/lookup.rs: active_clinician → store/users.rs: find
SELECT id, email, role, organization_id, first_name, last_name, mfa_enabled, disabled, created_at FROM users WHERE organization_id = :org AND id = :clinician;
-- api/patients/lookup.rs: find_visible → store/patients.rs: find (a SCHEDULER: no grant look-up)
SELECT id, first_name, last_name, date_of_birth, medical_record_number, phone_number, email, user_id, created_at, updated_at FROM patients WHERE organization_id = :org AND id = :patient AND deleted_at IS NULL;
-- scheduling/booking.rs: lock → store/appointments.rs: lock_keys (clinician and patient, ascending)
SELECT pg_advisory_xact_lock(:lock1);
SELECT pg_advisory_xact_lock(:lock2);
-- scheduling/holds.rs: expire_at_use → store/appointments.rs: expire_holds (this clinician's or
-- patient's expired holds released, one statement)
WITH expired AS ( UPDATE calendar_entries e SET status = 'CANCELLED', reason = 'hold expired', hold_expires_at = NULL, version = e.version + 1, updated_at = now() WHERE e.organization_id = :org AND e.kind = 'APPOINTMENT' AND e.status = 'HELD' AND e.hold_expires_at <= now() AND (:clinician::uuid IS NULL OR e.clinician_id = :clinician OR e.patient_id = :patient) RETURNING e.organization_id, e.id, e.patient_id, e.session_id), sessions AS ( UPDATE therapy_sessions s SET status = 'CANCELLED', cancel_reason = 'hold expired', cancelled_at = now(), updated_at = now() FROM expired x WHERE s.organization_id = x.organization_id AND s.id = x.session_id AND s.status IN ('SCHEDULED', 'IN_PROGRESS') RETURNING s.organization_id, s.id, s.authorization_id, s.reserved_units), ledger AS ( INSERT INTO unit_ledger (organization_id, authorization_id, session_id, kind, units, user_id, reason) SELECT organization_id, authorization_id, id, 'RELEASE', -reserved_units, NULL, 'hold expired' FROM sessions), released AS ( UPDATE authorizations a SET used_units = a.used_units - g.units FROM (SELECT organization_id, authorization_id, sum(reserved_units)::int AS units FROM sessions GROUP BY organization_id, authorization_id) g WHERE a.organization_id = g.organization_id AND a.id = g.authorization_id), audit AS ( INSERT INTO audit_outbox (organization_id, id, occurred_at, user_id, role, action, entity_type, entity_id, patient_id, access_method, outcome, request_id, details) SELECT organization_id, haven_units.uuid_v7(), now(), NULL, NULL, 'APPOINTMENT_HOLD_EXPIRED', 'appointment', id::text, patient_id, 'system', 'success', NULL, jsonb_build_object('sessionId', session_id, 'trigger', 'at_use'::text) FROM expired) SELECT (SELECT count(*) FROM expired), (SELECT coalesce(sum(reserved_units), 0)::bigint FROM sessions);
-- store/appointments.rs: within_availability (the weekly rules, in the clinician's zone)
SELECT EXISTS ( SELECT 1 FROM clinician_availability a CROSS JOIN LATERAL (SELECT (:start_at::timestamptz AT TIME ZONE a.time_zone)::date AS d) local JOIN availability_rules r ON r.organization_id = a.organization_id AND r.clinician_id = a.clinician_id AND r.day_of_week = extract(isodow FROM local.d) WHERE a.organization_id = :org AND a.clinician_id = :clinician AND local.d >= a.effective_from AND (a.effective_to IS NULL OR local.d <= a.effective_to) AND (r.service_codes IS NULL OR '97153' = ANY (r.service_codes)) AND ((local.d + r.start_time) AT TIME ZONE a.time_zone) <= :start_at::timestamptz AND ((local.d + r.end_time) AT TIME ZONE a.time_zone) >= :end_at::timestamptz);
-- store/appointments.rs: buffer_minutes
SELECT coalesce((SELECT buffer_minutes FROM clinician_availability WHERE organization_id = :org AND clinician_id = :clinician), 0) AS buffer
\gset
-- api/appointments/units.rs: reserve → store/authorizations.rs: find
SELECT id, patient_id, payer_name, member_id, service_code, unit_minutes, total_units, used_units, start_date, end_date, low_units_threshold, low_units_alerted, CASE WHEN status IN ('ACTIVE', 'EXHAUSTED') AND end_date < (now() AT TIME ZONE 'UTC')::date THEN 'EXPIRED' ELSE status END AS status, created_at, updated_at FROM authorizations WHERE organization_id = :org AND id = :authz;
-- units/ledger.rs: hold → store/authorizations.rs: take_for_session (60 min ÷ 15 = 4 units;
-- max_minutes = 24 × 60)
UPDATE authorizations SET used_units = used_units + 4 WHERE organization_id = :org AND id = :authz AND status = 'ACTIVE' AND used_units + 4 <= total_units AND :day::date BETWEEN start_date AND end_date AND 4 * unit_minutes <= 1440 RETURNING id AS a_id, patient_id AS a_patient_id, unit_minutes AS a_unit_minutes, total_units AS a_total_units, used_units AS a_used_units, low_units_threshold
\gset
-- units/ledger.rs: record_reservation → store/sessions_units.rs: insert_reserved (the session
-- and its RESERVE ledger row in one statement)
WITH s AS ( INSERT INTO therapy_sessions (organization_id, id, authorization_id, patient_id, clinician_id, start_time, reserved_units, unit_minutes, created_by) VALUES (:org, haven_units.uuid_v7(), :a_id, :a_patient_id, :clinician, :start_at, 4, :a_unit_minutes, :user) RETURNING id, authorization_id, patient_id, clinician_id, start_time, reserved_units, unit_minutes, actual_units, actual_minutes, status, cancel_reason, started_at, completed_at, cancelled_at, created_at, updated_at), l AS ( INSERT INTO unit_ledger (organization_id, authorization_id, session_id, kind, units, user_id, reason) SELECT :org, s.authorization_id, s.id, 'RESERVE', s.reserved_units, :user, 'session reserved' FROM s) SELECT id AS s_id, authorization_id, patient_id, clinician_id, start_time, reserved_units, unit_minutes, actual_units, actual_minutes, status, cancel_reason, started_at, completed_at, cancelled_at, created_at, updated_at FROM s
\gset
-- api/appointments/units.rs: reserve → audit/event.rs: record (SESSION_RESERVE)
INSERT INTO audit_outbox (organization_id, id, occurred_at, user_id, role, action, entity_type, entity_id, patient_id, access_method, outcome, ip, user_agent, request_id, details) VALUES (:org, haven_units.uuid_v7(), now(), :user, 'SCHEDULER', 'SESSION_RESERVE', 'session', :s_id, :patient, 'normal', 'success', :ip::inet, NULL, :rid, jsonb_build_object('authorizationId', :authz::text, 'units', 4, 'remainingUnits', :a_total_units::int - :a_used_units::int));
-- scheduling/booking.rs: insert → store/appointments.rs: insert (both exclusion constraints
-- checked here)
INSERT INTO calendar_entries (organization_id, id, kind, clinician_id, patient_id, service_code, start_at, end_at, busy_until, status, hold_expires_at, authorization_id, session_id, concurrent_with_id, availability_overridden, created_by) VALUES (:org, haven_units.uuid_v7(), 'APPOINTMENT', :clinician, :patient, '97153', :start_at, :end_at, :end_at::timestamptz + make_interval(mins => :buffer), 'BOOKED', NULL, :authz, :s_id, NULL, false, :user) RETURNING id AS e_id, patient_id, clinician_id, service_code, start_at, end_at, status, hold_expires_at, authorization_id, session_id, concurrent_with_id, series_id, availability_overridden, reason, version, created_at, updated_at
\gset
-- api/appointments/create.rs: attempt_booking → audit/event.rs: record (APPOINTMENT_BOOK)
INSERT INTO audit_outbox (organization_id, id, occurred_at, user_id, role, action, entity_type, entity_id, patient_id, access_method, outcome, ip, user_agent, request_id, details) VALUES (:org, haven_units.uuid_v7(), now(), :user, 'SCHEDULER', 'APPOINTMENT_BOOK', 'appointment', :e_id, :patient, 'normal', 'success', :ip::inet, NULL, :rid, jsonb_build_object('clinicianId', :clinician::text, 'start', :start_at::timestamptz, 'end', :end_at::timestamptz, 'serviceCode', '97153', 'sessionId', :s_id::text, 'holdExpiresAt', NULL, 'availabilityOverridden', false));
COMMIT;
