-- Scheduling (SPEC §6 "Availability and appointments", "Practice settings"): the SCHEDULER
-- role, the practice's time zone, clinicians' weekly availability, and the calendar of
-- appointments and time-off blocks.
--
-- Double booking is impossible in the database itself: two exclusion constraints over
-- tstzrange (btree_gist, organization_id first so they stay shard-local) refuse
--   * two active entries (appointments or blocks) of one clinician whose *busy* ranges overlap
--     (an appointment is busy from its start to its end plus the clinician's buffer, written
--     explicitly at booking because timestamptz + interval is not immutable);
--   * two active appointments of one patient that overlap, except an appointment explicitly
--     linked to another by concurrent_with_id (a supervising BCBA's 97155 beside a technician's
--     97153). Linked appointments may not overlap one another, so a patient has at most two
--     overlapping appointments, and only when one names the other.
-- The code maps each constraint's NAME to 409 SCHEDULE_CONFLICT {conflictWith}; PostgreSQL's
-- message (which names the other row's times and ids) never leaves the server.

-- btree_gist is a trusted extension: the owner of the database may create it.
CREATE EXTENSION IF NOT EXISTS btree_gist;

-- The front desk.
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check
    CHECK (role IN ('SUPER_ADMIN', 'ADMIN', 'CLINICIAN', 'BILLING', 'COMPLIANCE', 'SCHEDULER'));

-- The practice's IANA time zone (validated against pg_timezone_names by the API).
ALTER TABLE organizations ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC'
    CHECK (pg_catalog.length(time_zone) BETWEEN 1 AND 64);

-- A clinician's availability: the zone their weekly rules are written in, the buffer kept free
-- after each appointment, and the dates the rules hold. One row per clinician, replaced by PUT.
CREATE TABLE clinician_availability (
    organization_id uuid NOT NULL REFERENCES organizations (id),
    clinician_id uuid NOT NULL,
    time_zone text NOT NULL CHECK (pg_catalog.length(time_zone) BETWEEN 1 AND 64),
    buffer_minutes integer NOT NULL DEFAULT 0 CHECK (buffer_minutes BETWEEN 0 AND 240),
    effective_from date NOT NULL,
    effective_to date,
    updated_by uuid,
    updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (organization_id, clinician_id),
    FOREIGN KEY (organization_id, clinician_id) REFERENCES users (organization_id, id),
    CONSTRAINT clinician_availability_period CHECK (effective_to IS NULL OR effective_to >= effective_from)
);

-- Weekly rules: on ISO day of week `day_of_week` (1 = Monday), from local `start_time` to local
-- `end_time` in the availability's zone. Wall times: the instant they stand for is computed per
-- date (AT TIME ZONE), so 09:00 stays 09:00 across DST changes.
CREATE TABLE availability_rules (
    organization_id uuid NOT NULL,
    id uuid NOT NULL,
    clinician_id uuid NOT NULL,
    day_of_week smallint NOT NULL CHECK (day_of_week BETWEEN 1 AND 7),
    start_time time NOT NULL,
    end_time time NOT NULL,
    -- NULL: any service.
    service_codes text[] CHECK (pg_catalog.cardinality(service_codes) BETWEEN 1 AND 20),
    PRIMARY KEY (organization_id, id),
    FOREIGN KEY (organization_id, clinician_id)
        REFERENCES clinician_availability (organization_id, clinician_id) ON DELETE CASCADE,
    CONSTRAINT availability_rules_order CHECK (end_time > start_time)
);
CREATE INDEX availability_rules_clinician ON availability_rules (organization_id, clinician_id, day_of_week);

CREATE TABLE appointment_series (
    organization_id uuid NOT NULL REFERENCES organizations (id),
    id uuid NOT NULL,
    patient_id uuid NOT NULL,
    clinician_id uuid NOT NULL,
    created_by uuid,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (organization_id, id),
    FOREIGN KEY (organization_id, patient_id) REFERENCES patients (organization_id, id),
    FOREIGN KEY (organization_id, clinician_id) REFERENCES users (organization_id, id)
);

-- The calendar: appointments (kind APPOINTMENT, with a patient) and time-off blocks (kind BLOCK,
-- no patient) share one table so that one exclusion constraint covers both.
CREATE TABLE calendar_entries (
    organization_id uuid NOT NULL REFERENCES organizations (id),
    id uuid NOT NULL,
    kind text NOT NULL CHECK (kind IN ('APPOINTMENT', 'BLOCK')),
    clinician_id uuid NOT NULL,
    patient_id uuid,
    service_code text CHECK (service_code ~ '^[A-Z0-9]{4,10}(-[A-Z0-9]{1,4})?$'),
    start_at timestamptz NOT NULL,
    end_at timestamptz NOT NULL,
    -- The end of the clinician's busy time: end_at plus the buffer in force at booking.
    busy_until timestamptz NOT NULL,
    during tstzrange GENERATED ALWAYS AS (tstzrange(start_at, end_at, '[)')) STORED,
    busy tstzrange GENERATED ALWAYS AS (tstzrange(start_at, busy_until, '[)')) STORED,
    -- Appointments: HELD (until hold_expires_at), BOOKED, CHECKED_IN, FULFILLED, CANCELLED,
    -- NO_SHOW. Blocks: ACTIVE, REMOVED.
    status text NOT NULL CHECK (status IN ('HELD', 'BOOKED', 'CHECKED_IN', 'FULFILLED', 'CANCELLED',
                                           'NO_SHOW', 'ACTIVE', 'REMOVED')),
    hold_expires_at timestamptz,
    authorization_id uuid,
    session_id uuid,
    concurrent_with_id uuid,
    series_id uuid,
    availability_overridden boolean NOT NULL DEFAULT false,
    -- A block's reason, or why an appointment was cancelled.
    reason text CHECK (pg_catalog.length(reason) BETWEEN 1 AND 500),
    version integer NOT NULL DEFAULT 1 CHECK (version > 0),
    created_by uuid,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (organization_id, id),
    FOREIGN KEY (organization_id, clinician_id) REFERENCES users (organization_id, id),
    FOREIGN KEY (organization_id, patient_id) REFERENCES patients (organization_id, id),
    FOREIGN KEY (organization_id, authorization_id) REFERENCES authorizations (organization_id, id),
    FOREIGN KEY (organization_id, session_id) REFERENCES therapy_sessions (organization_id, id),
    FOREIGN KEY (organization_id, concurrent_with_id) REFERENCES calendar_entries (organization_id, id),
    FOREIGN KEY (organization_id, series_id) REFERENCES appointment_series (organization_id, id),
    CONSTRAINT calendar_entries_order CHECK (end_at > start_at AND busy_until >= end_at),
    CONSTRAINT calendar_entries_kind_fields CHECK (CASE kind
        WHEN 'APPOINTMENT' THEN patient_id IS NOT NULL AND service_code IS NOT NULL
                                AND status IN ('HELD', 'BOOKED', 'CHECKED_IN', 'FULFILLED', 'CANCELLED', 'NO_SHOW')
        ELSE patient_id IS NULL AND session_id IS NULL AND status IN ('ACTIVE', 'REMOVED')
    END),
    CONSTRAINT calendar_entries_duration CHECK (
        kind = 'BLOCK' OR end_at - start_at BETWEEN interval '15 minutes' AND interval '480 minutes'),
    CONSTRAINT calendar_entries_hold CHECK ((status = 'HELD') = (hold_expires_at IS NOT NULL)),
    CONSTRAINT calendar_entries_units CHECK ((authorization_id IS NULL) = (session_id IS NULL)),
    CONSTRAINT calendar_entries_clinician_no_overlap EXCLUDE USING gist (
        organization_id WITH =, clinician_id WITH =, busy WITH &&)
        WHERE (status IN ('HELD', 'BOOKED', 'CHECKED_IN', 'ACTIVE')),
    CONSTRAINT calendar_entries_patient_no_overlap EXCLUDE USING gist (
        organization_id WITH =, patient_id WITH =, during WITH &&)
        WHERE (kind = 'APPOINTMENT' AND concurrent_with_id IS NULL
               AND status IN ('HELD', 'BOOKED', 'CHECKED_IN')),
    CONSTRAINT calendar_entries_patient_concurrent_no_overlap EXCLUDE USING gist (
        organization_id WITH =, patient_id WITH =, during WITH &&)
        WHERE (kind = 'APPOINTMENT' AND concurrent_with_id IS NOT NULL
               AND status IN ('HELD', 'BOOKED', 'CHECKED_IN'))
);
-- Lists and the patient's calendar.
CREATE INDEX calendar_entries_clinician_start ON calendar_entries (organization_id, clinician_id, start_at);
CREATE INDEX calendar_entries_patient_start ON calendar_entries (organization_id, patient_id, start_at)
    WHERE kind = 'APPOINTMENT';
CREATE INDEX calendar_entries_start ON calendar_entries (organization_id, start_at, id);
CREATE INDEX calendar_entries_session ON calendar_entries (organization_id, session_id) WHERE session_id IS NOT NULL;
CREATE INDEX calendar_entries_series ON calendar_entries (organization_id, series_id) WHERE series_id IS NOT NULL;
-- The hold-expiry job: only holds are indexed, by expiry.
CREATE INDEX calendar_entries_holds ON calendar_entries (hold_expires_at, organization_id) WHERE status = 'HELD';
-- The cross-tenant look-up below finds an entry by id alone.
CREATE INDEX calendar_entries_id ON calendar_entries (id);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['clinician_availability', 'availability_rules', 'appointment_series', 'calendar_entries'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON %I USING (organization_id = current_organization_id()) '
                       'WITH CHECK (organization_id = current_organization_id())', t || '_tenant', t);
        EXECUTE format('CREATE POLICY %I ON %I TO CURRENT_USER USING (true) WITH CHECK (true)', t || '_owner', t);
    END LOOP;
END
$$;
GRANT SELECT, INSERT, UPDATE, DELETE ON clinician_availability, availability_rules TO haven_app;
GRANT SELECT, INSERT, UPDATE ON appointment_series, calendar_entries TO haven_app;

-- Which organization holds a calendar entry: a request for another tenant's appointment or
-- block is told apart from a request for nothing, so it is audited as cross-tenant.
CREATE FUNCTION haven_auth.calendar_entry_organization(p_entry_id uuid)
    RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT e.organization_id FROM public.calendar_entries e WHERE e.id = p_entry_id $$;
REVOKE ALL ON FUNCTION haven_auth.calendar_entry_organization(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION haven_auth.calendar_entry_organization(uuid) TO haven_app;

-- The organizations with holds past their expiry: the one cross-tenant read of the hold-expiry
-- job, which then releases them per organization in a tenant transaction. Returns ids only.
CREATE FUNCTION haven_auth.organizations_with_expired_holds(p_now timestamptz)
    RETURNS SETOF uuid
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT DISTINCT e.organization_id FROM public.calendar_entries e
        WHERE e.status = 'HELD' AND e.hold_expires_at <= p_now
    $$;
REVOKE ALL ON FUNCTION haven_auth.organizations_with_expired_holds(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION haven_auth.organizations_with_expired_holds(timestamptz) TO haven_app;
