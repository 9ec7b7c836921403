-- GET /api/patients/{id} by an ADMIN, as the SQL Haven sends for it (pgbench -M prepared, as the
-- app role haven_app, so row-level security applies exactly as for Haven).
--
-- Variables (-D), set by `haven-bench --pgbench` from the organization it seeded:
--   org, user          the organization and its ADMIN (a real row in users)
--   patients           how many patients haven-bench inserted for pgbench into that
--                      organization, with ids 00000000-0000-4000-8000-<i, 12 digits> and
--                      stand-in ciphertexts as long as Haven's (the HTTP load reads the
--                      patients it created through the API; both sets are in the table)
--   ip, rid, details   what the audit row records: client address, request id, {}
--
-- Differences from Haven, by necessity: the patient id is computed from a random i by an
-- expression; the audit event's UUIDv7 is made by the server; constants Haven binds as
-- parameters are literals; sqlx's Sync round trip on each pool checkout has no equivalent.

-- auth::caller's MFA gate (does the organization require MFA this admin lacks?) is asked at
-- most once a second per admin (auth/mfa_gate.rs): under load it is not part of a request.

-- api/patients/get.rs.
\set i random(1, :patients)
BEGIN;
-- db/tenant.rs: TenantTx::begin
SELECT set_config('app.current_organization_id', :org, true), set_config('app.current_user_id', :user, true);
-- store/patients.rs: find (api/patients/lookup.rs: find_visible)
SELECT id, first_name, last_name, date_of_birth, medical_record_number, phone_number, email, user_id, created_at, updated_at FROM patients WHERE organization_id = :org AND id = ('00000000-0000-4000-8000-' || lpad(:i::text, 12, '0'))::uuid AND deleted_at IS NULL
\gset p_
-- policy.rs: patient_access → store/btg.rs: active_for (an emergency grant comes first)
SELECT id FROM btg_grants WHERE organization_id = :org AND granted_to_user_id = :user AND patient_id = :p_id AND revoked_at IS NULL AND expires_at > now() ORDER BY expires_at DESC LIMIT 1;
-- (the six fields are decrypted in the process with the cached data key: no SQL)
-- audit/event.rs: record (PATIENT_READ)
INSERT INTO audit_outbox (organization_id, id, occurred_at, user_id, role, action, entity_type, entity_id, patient_id, access_method, outcome, ip, user_agent, request_id, details) VALUES (:org, encode(overlay(uuid_send(gen_random_uuid()) placing substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) from 3) from 1 for 6), 'hex')::uuid, now(), :user, 'ADMIN', 'PATIENT_READ', 'patient', :p_id, :p_id, 'normal', 'success', :ip::inet, NULL, :rid, :details);
COMMIT;
