-- Charges (SPEC §6 "Charges", issue 18): the practice's fee schedule and one charge per
-- completed session of an authorization.
--
-- * `fee_schedule` holds effective-dated rates per payer (or '' for every payer without its own
--   rate), CPT/HCPCS code and modifiers; an exclusion constraint refuses two rates of one
--   payer/code/modifiers whose periods overlap.
-- * `charges` is written by the transaction that completes the session (src/store/charges.rs):
--   units are the session's net units in the unit ledger (never an input), the rate comes from
--   the schedule. Holds are computed (never typed, except MANUAL's reason) by one set-based
--   statement; the CHECKs below make READY mean "no hold" and a claim line well-formed.
--   One live (not VOID) charge per session: a partial unique index.

CREATE TABLE fee_schedule (
    organization_id uuid NOT NULL REFERENCES organizations (id),
    id uuid NOT NULL DEFAULT haven_units.uuid_v7(),
    -- '' is the practice's default rate, used when the payer has none of its own.
    payer_name text NOT NULL DEFAULT '' CHECK (pg_catalog.length(payer_name) <= 200),
    cpt_code text NOT NULL CHECK (cpt_code ~ '^[A-Z0-9]{4,10}$'),
    -- Canonical: up to four two-character modifiers joined by ',' ('' for none).
    modifiers text NOT NULL DEFAULT '' CHECK (modifiers ~ '^([A-Z0-9]{2}(,[A-Z0-9]{2}){0,3})?$'),
    cents_per_unit bigint NOT NULL CHECK (cents_per_unit BETWEEN 0 AND 100000000),
    -- [effectiveFrom, the next entry's effectiveFrom) — half-open, never empty.
    effective daterange NOT NULL CHECK (NOT pg_catalog.isempty(effective)
        AND pg_catalog.lower_inc(effective) AND NOT pg_catalog.lower_inf(effective)),
    created_by uuid,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (organization_id, id),
    CONSTRAINT fee_schedule_no_overlap EXCLUDE USING gist (
        organization_id WITH =, payer_name WITH =, cpt_code WITH =, modifiers WITH =,
        effective WITH &&)
);

CREATE TABLE charges (
    organization_id uuid NOT NULL REFERENCES organizations (id),
    id uuid NOT NULL DEFAULT haven_units.uuid_v7(),
    session_id uuid NOT NULL,
    authorization_id uuid NOT NULL,
    patient_id uuid NOT NULL,
    -- The session's clinician (NULL when the session named none).
    rendering_provider_id uuid,
    payer_name text NOT NULL CHECK (pg_catalog.length(payer_name) BETWEEN 1 AND 200),
    -- The session's start date in the practice's time zone.
    service_date date NOT NULL,
    cpt_code text NOT NULL CHECK (cpt_code ~ '^[A-Z0-9]{4,10}$'),
    modifiers text[] NOT NULL DEFAULT '{}' CHECK (
        pg_catalog.cardinality(modifiers) <= 4
        AND pg_catalog.array_position(modifiers, NULL) IS NULL
        AND pg_catalog.array_to_string(modifiers, ',') ~ '^([A-Z0-9]{2}(,|$))*$'),
    -- ICD-10-CM shaped, as on notes; at most 12 (the claim's limit). Empty only while held.
    diagnosis_codes text[] NOT NULL DEFAULT '{}' CHECK (
        pg_catalog.cardinality(diagnosis_codes) <= 12
        AND pg_catalog.array_position(diagnosis_codes, NULL) IS NULL
        AND pg_catalog.array_to_string(diagnosis_codes, ',')
            ~ '^([A-TV-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?(,|$))*$'),
    -- 1-based positions in diagnosis_codes, at most 4. Empty only while held.
    diagnosis_pointers smallint[] NOT NULL DEFAULT '{}' CHECK (
        pg_catalog.cardinality(diagnosis_pointers) <= 4
        AND pg_catalog.array_position(diagnosis_pointers, NULL) IS NULL
        AND 1 <= ALL (diagnosis_pointers)
        AND pg_catalog.cardinality(diagnosis_codes) >= ALL (diagnosis_pointers)),
    place_of_service text NOT NULL DEFAULT '11' CHECK (place_of_service ~ '^[0-9]{2}$'),
    units integer NOT NULL CHECK (units > 0),
    -- The schedule's rate on the date of service; NULL when the schedule has none.
    cents_per_unit bigint CHECK (cents_per_unit >= 0),
    charge_cents bigint NOT NULL CHECK (charge_cents >= 0),
    status text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'READY', 'EXPORTED', 'VOID')),
    hold_reasons text[] NOT NULL DEFAULT '{}' CHECK (hold_reasons <@ ARRAY['NOTE_MISSING',
        'NOTE_UNSIGNED', 'COSIGN_MISSING', 'DIAGNOSIS_MISSING', 'AUTHORIZATION_EXPIRED', 'MANUAL']),
    manual_hold_reason text CHECK (pg_catalog.length(manual_hold_reason) BETWEEN 1 AND 500),
    void_reason text CHECK (pg_catalog.length(void_reason) BETWEEN 1 AND 500),
    version integer NOT NULL DEFAULT 1 CHECK (version > 0),
    -- The claim frequency codes it has been exported with (1 original, 7 replacement, 8 void)
    -- and the version last exported: what the next export owes (see charge_export_items).
    exported_codes text[] NOT NULL DEFAULT '{}' CHECK (exported_codes <@ ARRAY['1', '7', '8']),
    exported_version integer,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    voided_at timestamptz,
    PRIMARY KEY (organization_id, id),
    FOREIGN KEY (organization_id, session_id) REFERENCES therapy_sessions (organization_id, id),
    FOREIGN KEY (organization_id, authorization_id) REFERENCES authorizations (organization_id, id),
    FOREIGN KEY (organization_id, patient_id) REFERENCES patients (organization_id, id),
    FOREIGN KEY (organization_id, rendering_provider_id) REFERENCES users (organization_id, id),
    CONSTRAINT charges_amount CHECK (cents_per_unit IS NULL OR charge_cents = units * cents_per_unit),
    -- PENDING exactly when held; READY (and anything billed) only as a complete claim line.
    CONSTRAINT charges_pending_has_holds CHECK ((status = 'PENDING') = (pg_catalog.cardinality(hold_reasons) > 0)
        OR status IN ('EXPORTED', 'VOID')),
    CONSTRAINT charges_billable_complete CHECK (status NOT IN ('READY', 'EXPORTED')
        OR (pg_catalog.cardinality(diagnosis_codes) >= 1 AND pg_catalog.cardinality(diagnosis_pointers) >= 1)),
    CONSTRAINT charges_manual_hold CHECK (('MANUAL' = ANY (hold_reasons)) = (manual_hold_reason IS NOT NULL)
        OR status IN ('EXPORTED', 'VOID')),
    CONSTRAINT charges_void CHECK ((status = 'VOID') = (void_reason IS NOT NULL AND voided_at IS NOT NULL)),
    CONSTRAINT charges_exported CHECK (((status = 'EXPORTED') <= ('1' = ANY (exported_codes)))
        AND ((exported_version IS NULL) = (pg_catalog.cardinality(exported_codes) = 0)))
);
CREATE UNIQUE INDEX charges_one_live_per_session ON charges (organization_id, session_id)
    WHERE status <> 'VOID';
CREATE INDEX charges_service_date ON charges (organization_id, service_date, id);
CREATE INDEX charges_patient ON charges (organization_id, patient_id, service_date);
CREATE INDEX charges_open ON charges (organization_id) WHERE status IN ('PENDING', 'READY');
CREATE INDEX charges_id ON charges (id);
-- What an export picks up: READY lines, and exported ones voided or changed since.
CREATE INDEX charges_exportable ON charges (organization_id, service_date)
    WHERE status = 'READY' OR pg_catalog.cardinality(exported_codes) > 0;

-- An export: the READY charges of a range of service dates (and one payer, if named), plus the
-- voids (8) and replacements (7) of charges exported before. Never empty.
CREATE TABLE charge_exports (
    organization_id uuid NOT NULL REFERENCES organizations (id),
    id uuid NOT NULL,
    format text NOT NULL CHECK (format IN ('csv', '837p-json')),
    from_date date NOT NULL,
    to_date date NOT NULL,
    payer_name text CHECK (pg_catalog.length(payer_name) BETWEEN 1 AND 200),
    charge_count integer NOT NULL CHECK (charge_count > 0),
    -- Of the original and replacement lines (a void bills nothing).
    total_charge_cents bigint NOT NULL CHECK (total_charge_cents >= 0),
    created_by uuid,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (organization_id, id),
    CONSTRAINT charge_exports_range CHECK (to_date >= from_date)
);
CREATE INDEX charge_exports_created ON charge_exports (organization_id, created_at, id);
CREATE INDEX charge_exports_id ON charge_exports (id);

-- The lines of an export, as exported (a snapshot: downloading again gives the same file). A
-- charge is exported once per frequency code: the unique constraint refuses a second, whatever
-- two exports race.
CREATE TABLE charge_export_items (
    organization_id uuid NOT NULL REFERENCES organizations (id),
    export_id uuid NOT NULL,
    charge_id uuid NOT NULL,
    frequency_code text NOT NULL CHECK (frequency_code IN ('1', '7', '8')),
    charge_version integer NOT NULL,
    patient_id uuid NOT NULL,
    authorization_id uuid NOT NULL,
    rendering_provider_id uuid,
    payer_name text NOT NULL,
    service_date date NOT NULL,
    cpt_code text NOT NULL,
    modifiers text[] NOT NULL,
    diagnosis_codes text[] NOT NULL CHECK (pg_catalog.cardinality(diagnosis_codes) BETWEEN 1 AND 12),
    diagnosis_pointers smallint[] NOT NULL CHECK (pg_catalog.cardinality(diagnosis_pointers) BETWEEN 1 AND 4),
    place_of_service text NOT NULL,
    units integer NOT NULL CHECK (units > 0),
    charge_cents bigint NOT NULL CHECK (charge_cents >= 0),
    PRIMARY KEY (organization_id, export_id, charge_id),
    CONSTRAINT charge_export_items_once_per_code UNIQUE (organization_id, charge_id, frequency_code),
    FOREIGN KEY (organization_id, export_id) REFERENCES charge_exports (organization_id, id),
    FOREIGN KEY (organization_id, charge_id) REFERENCES charges (organization_id, id)
);
CREATE INDEX charge_export_items_claims ON charge_export_items
    (organization_id, export_id, patient_id, payer_name, rendering_provider_id, frequency_code, authorization_id, service_date);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['fee_schedule', 'charges', 'charge_exports', 'charge_export_items'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON %I USING (organization_id = current_organization_id()) '
                       'WITH CHECK (organization_id = current_organization_id())', t || '_tenant', t);
        EXECUTE format('CREATE POLICY %I ON %I TO CURRENT_USER USING (true) WITH CHECK (true)', t || '_owner', t);
    END LOOP;
END
$$;
GRANT SELECT, INSERT, DELETE ON fee_schedule TO haven_app;
GRANT SELECT, INSERT, UPDATE ON charges TO haven_app;
GRANT SELECT, INSERT ON charge_exports, charge_export_items TO haven_app;

-- Which organization holds a charge: a request for another tenant's charge is told apart from a
-- request for nothing, so it is audited as cross-tenant.
CREATE FUNCTION haven_auth.charge_organization(p_charge_id uuid)
    RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT c.organization_id FROM public.charges c WHERE c.id = p_charge_id $$;
REVOKE ALL ON FUNCTION haven_auth.charge_organization(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION haven_auth.charge_organization(uuid) TO haven_app;

-- Likewise for an export.
CREATE FUNCTION haven_auth.charge_export_organization(p_export_id uuid)
    RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT e.organization_id FROM public.charge_exports e WHERE e.id = p_export_id $$;
REVOKE ALL ON FUNCTION haven_auth.charge_export_organization(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION haven_auth.charge_export_organization(uuid) TO haven_app;

-- The organizations with charges still open (PENDING or READY): the daily hold job's one
-- cross-tenant read (ids only, from the partial index).
CREATE FUNCTION haven_auth.organizations_with_open_charges()
    RETURNS SETOF uuid
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT DISTINCT c.organization_id FROM public.charges c WHERE c.status IN ('PENDING', 'READY') $$;
REVOKE ALL ON FUNCTION haven_auth.organizations_with_open_charges() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION haven_auth.organizations_with_open_charges() TO haven_app;
