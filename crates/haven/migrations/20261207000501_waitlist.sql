-- Waitlist (SPEC §6 "Waitlist"): entries with preferences, and offers that hold a freed slot.
--
-- * One ACTIVE entry per patient and service: a partial unique index (409 CONFLICT). An entry
--   expires 90 days after it was added or last renewed (expires_at); an expired entry is
--   marked EXPIRED at use (before a new entry of the same patient and service is written) and
--   by the offer sweeper.
-- * Preferences are plain columns so that matching is one statement: clinician ids, ISO days
--   of week (1 = Monday), local time windows (parallel arrays of wall times, read in the
--   practice's time zone), a date range, URGENT or ROUTINE.
-- * notes are free text and may hold PHI: encrypted like the patient's fields (AES-256-GCM
--   under the practice's data key, AAD bound to organization, table, column and row).
-- * An offer is a HELD appointment (calendar_entries: the exclusion constraints protect the
--   slot, the units are reserved through the ledger) plus this row. At most one PENDING offer
--   per entry and per slot (clinician and start): partial unique indexes, so two humans, or a
--   human and the auto-offer, racing for one slot or one entry end with exactly one offer.

CREATE TABLE waitlist_entries (
    organization_id uuid NOT NULL REFERENCES organizations (id),
    id uuid NOT NULL,
    patient_id uuid NOT NULL,
    service_code text NOT NULL CHECK (service_code ~ '^[A-Z0-9]{4,10}(-[A-Z0-9]{1,4})?$'),
    authorization_id uuid,
    clinician_ids uuid[] NOT NULL DEFAULT '{}' CHECK (pg_catalog.cardinality(clinician_ids) <= 20),
    preferred_days smallint[] NOT NULL DEFAULT '{}'
        CHECK (preferred_days <@ '{1,2,3,4,5,6,7}'::smallint[]),
    window_starts time[] NOT NULL DEFAULT '{}',
    window_ends time[] NOT NULL DEFAULT '{}',
    earliest_date date,
    latest_date date,
    -- "No preference" flags, for the matching statements: under row-level security PostgreSQL
    -- uses column statistics only with leakproof operators (boolean equality is, array
    -- equality is not), so these let the planner see that most entries pass and keep the
    -- ranking index's order under a LIMIT instead of sorting every candidate.
    any_clinician boolean GENERATED ALWAYS AS (pg_catalog.cardinality(clinician_ids) = 0) STORED,
    any_day boolean GENERATED ALWAYS AS (pg_catalog.cardinality(preferred_days) = 0) STORED,
    any_time boolean GENERATED ALWAYS AS (pg_catalog.cardinality(window_starts) = 0) STORED,
    priority text NOT NULL DEFAULT 'ROUTINE' CHECK (priority IN ('URGENT', 'ROUTINE')),
    -- ACTIVE (waiting, maybe with a pending offer), BOOKED (an offer was accepted), REMOVED
    -- (DELETE), EXPIRED (90 days without renewal).
    status text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'BOOKED', 'REMOVED', 'EXPIRED')),
    notes bytea,
    -- Waiting since: the ranking's "longest waiting" (renewal does not reset it).
    waiting_since timestamptz NOT NULL DEFAULT pg_catalog.now(),
    expires_at timestamptz NOT NULL,
    version integer NOT NULL DEFAULT 1 CHECK (version > 0),
    created_by uuid,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (organization_id, id),
    FOREIGN KEY (organization_id, patient_id) REFERENCES patients (organization_id, id),
    FOREIGN KEY (organization_id, authorization_id) REFERENCES authorizations (organization_id, id),
    CONSTRAINT waitlist_entries_windows CHECK (
        pg_catalog.cardinality(window_starts) = pg_catalog.cardinality(window_ends)
        AND pg_catalog.cardinality(window_starts) <= 7),
    CONSTRAINT waitlist_entries_dates CHECK (
        earliest_date IS NULL OR latest_date IS NULL OR latest_date >= earliest_date)
);
-- One active entry per patient and service.
CREATE UNIQUE INDEX waitlist_entries_one_active ON waitlist_entries (organization_id, patient_id, service_code)
    WHERE status = 'ACTIVE';
-- Ranking for a freed slot: active entries of a service, URGENT first, then longest waiting.
CREATE INDEX waitlist_entries_rank ON waitlist_entries
    (organization_id, service_code, (priority <> 'URGENT'), waiting_since, id) WHERE status = 'ACTIVE';
-- Lists (newest first within the practice).
CREATE INDEX waitlist_entries_created ON waitlist_entries (organization_id, created_at, id);
-- Expiry (the sweeper) and the cross-tenant look-up by id alone.
CREATE INDEX waitlist_entries_expiry ON waitlist_entries (expires_at, organization_id) WHERE status = 'ACTIVE';
CREATE INDEX waitlist_entries_id ON waitlist_entries (id);

CREATE TABLE waitlist_offers (
    organization_id uuid NOT NULL REFERENCES organizations (id),
    id uuid NOT NULL,
    entry_id uuid NOT NULL,
    patient_id uuid NOT NULL,
    appointment_id uuid NOT NULL,
    clinician_id uuid NOT NULL,
    start_at timestamptz NOT NULL,
    end_at timestamptz NOT NULL,
    -- PENDING until accepted, declined or expired (at use, or by the sweeper).
    status text NOT NULL DEFAULT 'PENDING'
        CHECK (status IN ('PENDING', 'ACCEPTED', 'DECLINED', 'EXPIRED')),
    expires_at timestamptz NOT NULL,
    -- true when the practice's waitlistAutoOffer made it.
    automatic boolean NOT NULL DEFAULT false,
    decline_reason text CHECK (pg_catalog.length(decline_reason) BETWEEN 1 AND 500),
    created_by uuid,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    decided_at timestamptz,
    PRIMARY KEY (organization_id, id),
    FOREIGN KEY (organization_id, entry_id) REFERENCES waitlist_entries (organization_id, id),
    FOREIGN KEY (organization_id, patient_id) REFERENCES patients (organization_id, id),
    FOREIGN KEY (organization_id, appointment_id) REFERENCES calendar_entries (organization_id, id),
    FOREIGN KEY (organization_id, clinician_id) REFERENCES users (organization_id, id),
    CONSTRAINT waitlist_offers_order CHECK (end_at > start_at AND expires_at > created_at),
    CONSTRAINT waitlist_offers_decided CHECK ((status = 'PENDING') = (decided_at IS NULL))
);
CREATE UNIQUE INDEX waitlist_offers_one_per_entry ON waitlist_offers (organization_id, entry_id)
    WHERE status = 'PENDING';
CREATE UNIQUE INDEX waitlist_offers_one_per_slot ON waitlist_offers (organization_id, clinician_id, start_at)
    WHERE status = 'PENDING';
CREATE UNIQUE INDEX waitlist_offers_appointment ON waitlist_offers (organization_id, appointment_id);
-- Offers of one slot, decided or not (the ranking skips entries that declined this very slot).
CREATE INDEX waitlist_offers_slot ON waitlist_offers (organization_id, clinician_id, start_at);
-- The sweeper: pending offers by expiry.
CREATE INDEX waitlist_offers_expiry ON waitlist_offers (expires_at, organization_id) WHERE status = 'PENDING';
CREATE INDEX waitlist_offers_id ON waitlist_offers (id);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['waitlist_entries', 'waitlist_offers'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON %I USING (organization_id = current_organization_id()) '
                       'WITH CHECK (organization_id = current_organization_id())', t || '_tenant', t);
        EXECUTE format('CREATE POLICY %I ON %I TO CURRENT_USER USING (true) WITH CHECK (true)', t || '_owner', t);
    END LOOP;
END
$$;
GRANT SELECT, INSERT, UPDATE ON waitlist_entries, waitlist_offers TO haven_app;

-- The practice's auto-offer setting (SPEC §6 "Practice settings").
ALTER TABLE organizations ADD COLUMN waitlist_auto_offer text NOT NULL DEFAULT 'off'
    CHECK (waitlist_auto_offer IN ('off', 'sequential'));

-- Which organization holds a waitlist entry / offer: a request for another tenant's is told
-- apart from a request for nothing, so it is audited as cross-tenant. Ids only.
CREATE FUNCTION haven_auth.waitlist_entry_organization(p_id uuid)
    RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT w.organization_id FROM public.waitlist_entries w WHERE w.id = p_id $$;
REVOKE ALL ON FUNCTION haven_auth.waitlist_entry_organization(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION haven_auth.waitlist_entry_organization(uuid) TO haven_app;

CREATE FUNCTION haven_auth.waitlist_offer_organization(p_id uuid)
    RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT o.organization_id FROM public.waitlist_offers o WHERE o.id = p_id $$;
REVOKE ALL ON FUNCTION haven_auth.waitlist_offer_organization(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION haven_auth.waitlist_offer_organization(uuid) TO haven_app;

-- The organizations with pending offers past their expiry or active entries past theirs: the
-- one cross-tenant read of the offer sweeper, which then works per organization in a tenant
-- transaction. Ids only.
CREATE FUNCTION haven_auth.organizations_with_expired_waitlist(p_now timestamptz)
    RETURNS SETOF uuid
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT o.organization_id FROM public.waitlist_offers o
        WHERE o.status = 'PENDING' AND o.expires_at <= p_now
        UNION
        SELECT w.organization_id FROM public.waitlist_entries w
        WHERE w.status = 'ACTIVE' AND w.expires_at <= p_now
    $$;
REVOKE ALL ON FUNCTION haven_auth.organizations_with_expired_waitlist(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION haven_auth.organizations_with_expired_waitlist(timestamptz) TO haven_app;
