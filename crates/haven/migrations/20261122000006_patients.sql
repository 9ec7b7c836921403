-- Patients and care teams. Every PHI column holds AES-256-GCM ciphertext (see src/phi): the
-- database never sees a name, date of birth, MRN, phone number or email in the clear. Exact
-- look-ups by MRN and last name go through blind indexes (HMAC-SHA256 under a per-organization
-- key of the normalized value).

CREATE TABLE patients (
    organization_id uuid NOT NULL REFERENCES organizations (id),
    id uuid NOT NULL,
    first_name bytea NOT NULL,
    last_name bytea NOT NULL,
    date_of_birth bytea NOT NULL,
    medical_record_number bytea NOT NULL,
    phone_number bytea,
    email bytea,
    mrn_index bytea NOT NULL CHECK (pg_catalog.length(mrn_index) = 32),
    last_name_index bytea NOT NULL CHECK (pg_catalog.length(last_name_index) = 32),
    -- A patient-portal account, when the patient has one.
    user_id uuid,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    deleted_at timestamptz,
    PRIMARY KEY (organization_id, id),
    FOREIGN KEY (organization_id, user_id) REFERENCES users (organization_id, id)
);
-- An MRN identifies one patient of a practice for good, deleted or not.
CREATE UNIQUE INDEX patients_mrn_unique ON patients (organization_id, mrn_index);
CREATE INDEX patients_last_name ON patients (organization_id, last_name_index) WHERE deleted_at IS NULL;
CREATE INDEX patients_created ON patients (organization_id, created_at, id) WHERE deleted_at IS NULL;

CREATE TABLE care_team_members (
    organization_id uuid NOT NULL,
    patient_id uuid NOT NULL,
    user_id uuid NOT NULL,
    added_by uuid,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (organization_id, patient_id, user_id),
    FOREIGN KEY (organization_id, patient_id) REFERENCES patients (organization_id, id),
    FOREIGN KEY (organization_id, user_id) REFERENCES users (organization_id, id)
);
-- "Which patients may this clinician see?"
CREATE INDEX care_team_members_user ON care_team_members (organization_id, user_id, patient_id);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['patients', 'care_team_members'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON %I USING (organization_id = current_organization_id()) '
                       'WITH CHECK (organization_id = current_organization_id())', t || '_tenant', t);
        EXECUTE format('CREATE POLICY %I ON %I TO CURRENT_USER USING (true) WITH CHECK (true)', t || '_owner', t);
    END LOOP;
END
$$;
GRANT SELECT, INSERT, UPDATE ON patients TO haven_app;
GRANT SELECT, INSERT, DELETE ON care_team_members TO haven_app;

-- Which organization holds a patient: tells a request for another tenant's patient apart from a
-- request for nobody, so the attempt is audited as cross-tenant (the caller still gets 404).
CREATE FUNCTION haven_auth.patient_organization(p_patient_id uuid)
    RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT p.organization_id FROM public.patients p WHERE p.id = p_patient_id $$;
REVOKE ALL ON FUNCTION haven_auth.patient_organization(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION haven_auth.patient_organization(uuid) TO haven_app;
CREATE INDEX patients_id ON patients (id);
