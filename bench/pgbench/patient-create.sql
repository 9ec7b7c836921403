-- POST /api/patients by an ADMIN, as the SQL Haven sends for it (pgbench -M prepared, as the
-- app role haven_app, so row-level security applies exactly as for Haven).
--
-- Variables (-D), set by `haven-bench --pgbench` from the organization it seeded:
--   org, user                     the organization and its ADMIN (a real row in users)
--   first_name, last_name, dob,   stand-ins for the six ciphertexts: random bytes as long as
--   mrn, phone, email             Haven stores them (1 + 16 + 12 + plaintext + 16 bytes)
--   lni                           the last-name blind index (one family name, as in the load)
--   ip, rid, details              what the audit row records: client address, request id, {}
--
-- What pgbench cannot do as Haven does, and how it is mirrored here:
--   * ids: Haven makes UUIDv7s in the process; here the server makes a UUIDv7-shaped id
--     (48-bit millisecond time, then random bits) with a small expression;
--   * the MRN blind index (HMAC in Haven) is sha256 of a random 64-bit number: distinct per row;
--   * constants Haven binds as parameters ('data', 'PATIENT_CREATE', ...) are literals;
--   * sqlx checks every connection it takes from its pool with a Sync round trip (twice per
--     request here); pgbench has no such step.

-- auth::caller's MFA gate (does the organization require MFA this admin lacks?) is asked at
-- most once a second per admin (auth/mfa_gate.rs): under load it is not part of a request.

-- api/patients/create.rs.
BEGIN;
-- db/tenant.rs: TenantTx::begin
SELECT set_config('app.current_organization_id', :org, true), set_config('app.current_user_id', :user, true);
-- phi/keys.rs: Keyring::data_key, then Keyring::blind_key (unwrapped keys are cached; the rows are read every time)
SELECT id, wrapped_key FROM organization_keys WHERE organization_id = :org AND purpose = 'data' AND retired_at IS NULL;
SELECT id, wrapped_key FROM organization_keys WHERE organization_id = :org AND purpose = 'blind' AND retired_at IS NULL;
-- store/patients.rs: insert
\set r random(1, 9223372036854775806)
INSERT INTO patients (organization_id, id, first_name, last_name, date_of_birth, medical_record_number, phone_number, email, mrn_index, last_name_index, user_id) VALUES (:org, encode(overlay(uuid_send(gen_random_uuid()) placing substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) from 3) from 1 for 6), 'hex')::uuid, :first_name, :last_name, :dob, :mrn, :phone, :email, sha256(int8send(:r)), :lni, NULL) RETURNING id, first_name, last_name, date_of_birth, medical_record_number, phone_number, email, user_id, created_at, updated_at
\gset p_
-- audit/event.rs: record (PATIENT_CREATE)
INSERT INTO audit_outbox (organization_id, id, occurred_at, user_id, role, action, entity_type, entity_id, patient_id, access_method, outcome, ip, user_agent, request_id, details) VALUES (:org, encode(overlay(uuid_send(gen_random_uuid()) placing substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) from 3) from 1 for 6), 'hex')::uuid, now(), :user, 'ADMIN', 'PATIENT_CREATE', 'patient', :p_id, :p_id, 'normal', 'success', :ip::inet, NULL, :rid, :details);
COMMIT;
