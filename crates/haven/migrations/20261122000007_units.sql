-- Insurance authorizations, therapy sessions and the unit ledger (SPEC §5).
--
-- An authorization allows a patient `total_units` units of one service between two dates;
-- `used_units` counts the units held by open sessions, consumed by completed ones, and adjusted
-- by billing. Every change of `used_units` is one append-only `unit_ledger` row with the signed
-- delta, written in the same transaction, so for every authorization at every moment
--
--     used_units = sum(ledger.units)
--                = reserved units of its SCHEDULED and IN_PROGRESS sessions
--                + actual units of its COMPLETED sessions
--                + its ADJUST rows
--
-- which haven_units.ledger_check() verifies for the current organization. Reservations take
-- units with one conditional UPDATE (see src/units/ledger.rs), never read-check-write; the CHECK
-- constraints below are the last line: no code path can over-allocate or go negative.

CREATE SCHEMA haven_units;
REVOKE ALL ON SCHEMA haven_units FROM PUBLIC;
GRANT USAGE ON SCHEMA haven_units TO haven_app;

-- A time-ordered (version 7) UUID, for rows made by set-based statements: the audit sealer takes
-- the outbox oldest first by id. PostgreSQL 15 has no uuidv7(); this puts the Unix time in
-- milliseconds into the first 48 bits of a random UUID and sets the version nibble to 7.
CREATE FUNCTION haven_units.uuid_v7() RETURNS uuid
    LANGUAGE sql VOLATILE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT encode(
            set_bit(set_bit(
                overlay(uuid_send(gen_random_uuid())
                        PLACING substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                        FROM 1 FOR 6),
                52, 1), 53, 1),
            'hex')::uuid
    $$;
GRANT EXECUTE ON FUNCTION haven_units.uuid_v7() TO haven_app;

CREATE TABLE authorizations (
    organization_id uuid NOT NULL REFERENCES organizations (id),
    id uuid NOT NULL,
    patient_id uuid NOT NULL,
    payer_name text NOT NULL CHECK (pg_catalog.length(payer_name) BETWEEN 1 AND 200),
    -- The health-plan member id is PHI: AES-256-GCM ciphertext (see src/phi), like demographics.
    member_id bytea,
    -- CPT/HCPCS-like: 4–10 capital letters or digits, optionally a modifier (97153, H2019-HO).
    service_code text NOT NULL CHECK (service_code ~ '^[A-Z0-9]{4,10}(-[A-Z0-9]{1,4})?$'),
    unit_minutes integer NOT NULL DEFAULT 15 CHECK (unit_minutes BETWEEN 1 AND 240),
    total_units integer NOT NULL,
    used_units integer NOT NULL DEFAULT 0,
    start_date date NOT NULL,
    end_date date NOT NULL,
    low_units_threshold integer NOT NULL,
    -- Whether available units are below the threshold (kept by the trigger below). The
    -- AUTHORIZATION_LOW_UNITS event is recorded by the operation that crosses it, once.
    low_units_alerted boolean NOT NULL DEFAULT false,
    -- ACTIVE and EXHAUSTED follow used_units (trigger below); CANCELLED is set by hand. EXPIRED
    -- is never stored: it is read as "ACTIVE or EXHAUSTED and end_date has passed".
    status text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'EXHAUSTED', 'EXPIRED', 'CANCELLED')),
    created_by uuid,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (organization_id, id),
    FOREIGN KEY (organization_id, patient_id) REFERENCES patients (organization_id, id),
    CONSTRAINT authorizations_total_units_positive CHECK (total_units > 0),
    CONSTRAINT authorizations_used_units_non_negative CHECK (used_units >= 0),
    CONSTRAINT authorizations_used_units_within_total CHECK (used_units <= total_units),
    CONSTRAINT authorizations_period CHECK (end_date >= start_date),
    CONSTRAINT authorizations_low_units_threshold CHECK (low_units_threshold BETWEEN 0 AND total_units)
);
CREATE INDEX authorizations_patient ON authorizations (organization_id, patient_id, end_date);
CREATE INDEX authorizations_end_date ON authorizations (organization_id, end_date) WHERE status IN ('ACTIVE', 'EXHAUSTED');
-- The cross-tenant look-up below finds an authorization by id alone.
CREATE INDEX authorizations_id ON authorizations (id);

-- EXHAUSTED exactly when every unit is used (and back to ACTIVE when units come back), and the
-- low-units flag, whatever statement changed used_units.
CREATE FUNCTION haven_units.sync_authorization() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
    BEGIN
        IF NEW.status IN ('ACTIVE', 'EXHAUSTED') THEN
            NEW.status := CASE WHEN NEW.used_units >= NEW.total_units THEN 'EXHAUSTED' ELSE 'ACTIVE' END;
        END IF;
        NEW.low_units_alerted := NEW.total_units - NEW.used_units < NEW.low_units_threshold;
        IF TG_OP = 'UPDATE' THEN
            NEW.updated_at := now();
        END IF;
        RETURN NEW;
    END
    $$;
CREATE TRIGGER authorizations_sync BEFORE INSERT OR UPDATE ON authorizations
    FOR EACH ROW EXECUTE FUNCTION haven_units.sync_authorization();

CREATE TABLE therapy_sessions (
    organization_id uuid NOT NULL REFERENCES organizations (id),
    id uuid NOT NULL,
    authorization_id uuid NOT NULL,
    patient_id uuid NOT NULL,
    clinician_id uuid,
    start_time timestamptz NOT NULL,
    -- Units held while SCHEDULED or IN_PROGRESS (the request's expectedUnits).
    reserved_units integer NOT NULL CHECK (reserved_units > 0),
    -- The authorization's unit length, copied at reservation: the reserved duration is
    -- reserved_units * unit_minutes (stale cleanup needs it without a join).
    unit_minutes integer NOT NULL CHECK (unit_minutes > 0),
    actual_units integer CHECK (actual_units >= 0),
    actual_minutes integer CHECK (actual_minutes >= 0),
    status text NOT NULL DEFAULT 'SCHEDULED' CHECK (status IN ('SCHEDULED', 'IN_PROGRESS', 'COMPLETED', 'CANCELLED')),
    cancel_reason text CHECK (pg_catalog.length(cancel_reason) BETWEEN 1 AND 500),
    created_by uuid,
    started_at timestamptz,
    completed_at timestamptz,
    cancelled_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (organization_id, id),
    FOREIGN KEY (organization_id, authorization_id) REFERENCES authorizations (organization_id, id),
    FOREIGN KEY (organization_id, patient_id) REFERENCES patients (organization_id, id),
    FOREIGN KEY (organization_id, clinician_id) REFERENCES users (organization_id, id),
    CONSTRAINT therapy_sessions_completed_has_units CHECK ((status = 'COMPLETED') = (actual_units IS NOT NULL)),
    CONSTRAINT therapy_sessions_cancelled_has_reason CHECK ((status = 'CANCELLED') = (cancel_reason IS NOT NULL))
);
-- Stale-reservation cleanup: only open sessions are indexed, by start time (the cleanup's range
-- condition; organization_id second, for the per-organization statement).
CREATE INDEX therapy_sessions_open_start ON therapy_sessions (start_time, organization_id)
    WHERE status IN ('SCHEDULED', 'IN_PROGRESS');
CREATE INDEX therapy_sessions_authorization ON therapy_sessions (organization_id, authorization_id, start_time);
CREATE INDEX therapy_sessions_patient ON therapy_sessions (organization_id, patient_id, start_time);
CREATE INDEX therapy_sessions_start ON therapy_sessions (organization_id, start_time, id);
CREATE INDEX therapy_sessions_id ON therapy_sessions (id);

CREATE TABLE unit_ledger (
    organization_id uuid NOT NULL REFERENCES organizations (id),
    id uuid NOT NULL DEFAULT haven_units.uuid_v7(),
    authorization_id uuid NOT NULL,
    session_id uuid,
    kind text NOT NULL CHECK (kind IN ('RESERVE', 'RELEASE', 'CONSUME', 'ADJUST', 'STALE_RELEASE')),
    -- The signed change of the authorization's used_units.
    units integer NOT NULL,
    -- Who did it (NULL: Haven itself, e.g. the background cleanup). No foreign key: a platform
    -- operator acting in a practice is not one of its users.
    user_id uuid,
    reason text NOT NULL CHECK (pg_catalog.length(reason) BETWEEN 1 AND 500),
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (organization_id, id),
    FOREIGN KEY (organization_id, authorization_id) REFERENCES authorizations (organization_id, id),
    FOREIGN KEY (organization_id, session_id) REFERENCES therapy_sessions (organization_id, id),
    CONSTRAINT unit_ledger_sign CHECK (CASE kind
        WHEN 'RESERVE' THEN units > 0
        WHEN 'CONSUME' THEN units >= 0
        WHEN 'ADJUST' THEN units <> 0
        ELSE units < 0
    END),
    CONSTRAINT unit_ledger_session CHECK ((kind = 'ADJUST') = (session_id IS NULL))
);
CREATE INDEX unit_ledger_authorization ON unit_ledger (organization_id, authorization_id, created_at);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['authorizations', 'therapy_sessions', 'unit_ledger'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON %I USING (organization_id = current_organization_id()) '
                       'WITH CHECK (organization_id = current_organization_id())', t || '_tenant', t);
        EXECUTE format('CREATE POLICY %I ON %I TO CURRENT_USER USING (true) WITH CHECK (true)', t || '_owner', t);
    END LOOP;
END
$$;
GRANT SELECT, INSERT, UPDATE ON authorizations, therapy_sessions TO haven_app;
-- The ledger is append-only: the app may add rows and read them, nothing else, and a trigger
-- refuses UPDATE, DELETE and TRUNCATE for every role, the owner included.
GRANT SELECT, INSERT ON unit_ledger TO haven_app;

CREATE FUNCTION haven_units.refuse_change() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
    BEGIN
        RAISE EXCEPTION 'the unit ledger is append-only: % on % refused', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END
    $$;
CREATE TRIGGER unit_ledger_append_only BEFORE UPDATE OR DELETE ON unit_ledger
    FOR EACH ROW EXECUTE FUNCTION haven_units.refuse_change();
CREATE TRIGGER unit_ledger_no_truncate BEFORE TRUNCATE ON unit_ledger
    FOR EACH STATEMENT EXECUTE FUNCTION haven_units.refuse_change();

-- The ledger invariant, for every authorization of the current organization (SECURITY INVOKER:
-- run it in a tenant transaction; row-level security confines it too).
CREATE FUNCTION haven_units.ledger_check()
    RETURNS TABLE (authorization_id uuid, used_units integer, ledger_units bigint,
                   held_units bigint, consumed_units bigint, adjusted_units bigint,
                   consistent boolean)
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT a.id, a.used_units, coalesce(l.total, 0), coalesce(s.held, 0),
               coalesce(s.consumed, 0), coalesce(l.adjusted, 0),
               a.used_units = coalesce(l.total, 0)
               AND a.used_units = coalesce(s.held, 0) + coalesce(s.consumed, 0) + coalesce(l.adjusted, 0)
        FROM public.authorizations a
        LEFT JOIN (
            SELECT x.authorization_id, sum(x.units) AS total,
                   sum(x.units) FILTER (WHERE x.kind = 'ADJUST') AS adjusted
            FROM public.unit_ledger x
            WHERE x.organization_id = public.current_organization_id()
            GROUP BY x.authorization_id
        ) l ON l.authorization_id = a.id
        LEFT JOIN (
            SELECT t.authorization_id,
                   sum(t.reserved_units) FILTER (WHERE t.status IN ('SCHEDULED', 'IN_PROGRESS')) AS held,
                   sum(t.actual_units) FILTER (WHERE t.status = 'COMPLETED') AS consumed
            FROM public.therapy_sessions t
            WHERE t.organization_id = public.current_organization_id()
            GROUP BY t.authorization_id
        ) s ON s.authorization_id = a.id
        WHERE a.organization_id = public.current_organization_id()
        ORDER BY a.id
    $$;
GRANT EXECUTE ON FUNCTION haven_units.ledger_check() TO haven_app;

-- The organizations that may have stale reservations (open sessions that started before the
-- threshold): the one cross-tenant read of the cleanup, which then runs per organization in a
-- tenant transaction. Returns ids only.
CREATE FUNCTION haven_units.organizations_with_open_sessions_before(p_cutoff timestamptz)
    RETURNS SETOF uuid
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT DISTINCT s.organization_id
        FROM public.therapy_sessions s
        WHERE s.status IN ('SCHEDULED', 'IN_PROGRESS') AND s.start_time < p_cutoff
    $$;
REVOKE ALL ON FUNCTION haven_units.organizations_with_open_sessions_before(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION haven_units.organizations_with_open_sessions_before(timestamptz) TO haven_app;

-- Which organization holds an authorization / a session: a request for another tenant's id is
-- told apart from a request for nothing, so it is audited as cross-tenant (the caller gets 404).
CREATE FUNCTION haven_auth.authorization_organization(p_authorization_id uuid)
    RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT a.organization_id FROM public.authorizations a WHERE a.id = p_authorization_id $$;
REVOKE ALL ON FUNCTION haven_auth.authorization_organization(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION haven_auth.authorization_organization(uuid) TO haven_app;

CREATE FUNCTION haven_auth.therapy_session_organization(p_session_id uuid)
    RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT s.organization_id FROM public.therapy_sessions s WHERE s.id = p_session_id $$;
REVOKE ALL ON FUNCTION haven_auth.therapy_session_organization(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION haven_auth.therapy_session_organization(uuid) TO haven_app;
