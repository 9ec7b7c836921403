-- Clinical notes (SPEC §6 "Clinical notes"): notes with their versions of content, signatures,
-- addenda, and clinical supervision.
--
-- * `notes` is the header: type, format, status, the current version, diagnosis codes (kept in
--   the clear and queryable: charges derive their holds from status, links and codes), the due
--   time and the overdue flag. No clinical text.
-- * `note_versions` holds the content of each version: all sections as ONE AES-256-GCM blob
--   whose associated data binds it to the organization, the note and the version (src/notes).
--   A row is never updated; a version is added only to a DRAFT note, at its current version.
-- * `note_signatures` (SIGN by the author, COSIGN or RETURN by the supervisor) store an
--   HMAC-SHA256, under the practice's signing key, of the exact version signed.
-- * `note_addenda` are the only way to correct a signed note: append-only, numbered per note
--   (the writer holds the note's row lock), encrypted and signed like the note.
-- * `supervision_assignments`: one active supervisor per supervisee (exclusion constraint).
--
-- Locking for good is the database's job: triggers refuse, for every role (the owner
-- included), any change of a non-draft note's content, codes, links or version (except the
-- supervisor's RETURN, which moves it back to DRAFT at version + 1), any UPDATE of a version,
-- signature or addendum, and any DELETE except of a draft note (with its versions).

CREATE SCHEMA haven_notes;
REVOKE ALL ON SCHEMA haven_notes FROM PUBLIC;
GRANT USAGE ON SCHEMA haven_notes TO haven_app;

-- Hours after the session (or the note's creation) a note is due.
ALTER TABLE organizations ADD COLUMN note_due_hours integer NOT NULL DEFAULT 72
    CHECK (note_due_hours BETWEEN 1 AND 720);

-- The practice's signing key (HMAC-SHA256 of signed note versions and addenda). Like the blind
-- key it never rotates: every stored signature names the key it was made with.
ALTER TABLE organization_keys DROP CONSTRAINT organization_keys_purpose_check;
ALTER TABLE organization_keys ADD CONSTRAINT organization_keys_purpose_check
    CHECK (purpose IN ('data', 'blind', 'signing'));

CREATE TABLE supervision_assignments (
    organization_id uuid NOT NULL REFERENCES organizations (id),
    id uuid NOT NULL,
    supervisee_id uuid NOT NULL,
    supervisor_id uuid NOT NULL,
    requires_cosign boolean NOT NULL,
    cosign_due_days integer NOT NULL DEFAULT 3 CHECK (cosign_due_days BETWEEN 1 AND 30),
    -- When the assignment holds; an open upper bound is the current one.
    active tstzrange NOT NULL,
    assigned_by uuid,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (organization_id, id),
    FOREIGN KEY (organization_id, supervisee_id) REFERENCES users (organization_id, id),
    FOREIGN KEY (organization_id, supervisor_id) REFERENCES users (organization_id, id),
    CONSTRAINT supervision_not_self CHECK (supervisee_id <> supervisor_id),
    CONSTRAINT supervision_one_active EXCLUDE USING gist (
        organization_id WITH =, supervisee_id WITH =, active WITH &&)
);
-- "Whose supervisor am I?" (awaitingMyCosign, psychotherapy access).
CREATE INDEX supervision_supervisor ON supervision_assignments (organization_id, supervisor_id)
    WHERE upper_inf(active);

CREATE TABLE notes (
    organization_id uuid NOT NULL REFERENCES organizations (id),
    id uuid NOT NULL,
    patient_id uuid NOT NULL,
    author_id uuid NOT NULL,
    appointment_id uuid,
    session_id uuid,
    note_type text NOT NULL CHECK (note_type IN ('PROGRESS', 'INTAKE', 'TREATMENT_PLAN',
        'ABA_SESSION', 'CONTACT', 'DISCHARGE', 'PSYCHOTHERAPY')),
    format text NOT NULL CHECK (format IN ('SOAP', 'DAP', 'BIRP', 'GIRP', 'FREE')),
    status text NOT NULL DEFAULT 'DRAFT'
        CHECK (status IN ('DRAFT', 'PENDING_COSIGN', 'SIGNED', 'ENTERED_IN_ERROR')),
    version integer NOT NULL DEFAULT 1 CHECK (version > 0),
    -- ICD-10-CM shaped: a letter (not U), a digit, a digit or letter, then optionally a dot and
    -- one to four digits or letters. At most 12 (a claim's limit).
    diagnosis_codes text[] NOT NULL DEFAULT '{}' CHECK (
        pg_catalog.cardinality(diagnosis_codes) <= 12
        AND pg_catalog.array_to_string(diagnosis_codes, ',')
            ~ '^([A-TV-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?(,|$))*$'),
    -- When the service happened (the session's or appointment's start, else creation).
    service_at timestamptz NOT NULL,
    due_at timestamptz NOT NULL,
    overdue boolean NOT NULL DEFAULT false,
    signed_at timestamptz,
    signed_by uuid,
    cosign_due_at timestamptz,
    cosigned_at timestamptz,
    cosigned_by uuid,
    entered_in_error_at timestamptz,
    entered_in_error_by uuid,
    -- Encrypted like the content (it may name the patient).
    entered_in_error_reason bytea,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (organization_id, id),
    FOREIGN KEY (organization_id, patient_id) REFERENCES patients (organization_id, id),
    FOREIGN KEY (organization_id, author_id) REFERENCES users (organization_id, id),
    FOREIGN KEY (organization_id, appointment_id) REFERENCES calendar_entries (organization_id, id),
    FOREIGN KEY (organization_id, session_id) REFERENCES therapy_sessions (organization_id, id),
    CONSTRAINT notes_signed CHECK (status NOT IN ('SIGNED', 'PENDING_COSIGN')
                                   OR (signed_at IS NOT NULL AND signed_by IS NOT NULL)),
    CONSTRAINT notes_cosigned CHECK ((cosigned_at IS NULL) = (cosigned_by IS NULL)),
    CONSTRAINT notes_entered_in_error CHECK ((status = 'ENTERED_IN_ERROR')
                                   = (entered_in_error_at IS NOT NULL))
);
CREATE INDEX notes_patient ON notes (organization_id, patient_id, service_at);
CREATE INDEX notes_author ON notes (organization_id, author_id, status);
CREATE INDEX notes_session ON notes (organization_id, session_id) WHERE session_id IS NOT NULL;
CREATE INDEX notes_appointment ON notes (organization_id, appointment_id) WHERE appointment_id IS NOT NULL;
CREATE INDEX notes_pending_cosign ON notes (organization_id, author_id) WHERE status = 'PENDING_COSIGN';
-- The overdue job: drafts not yet flagged, by due time.
CREATE INDEX notes_overdue_candidates ON notes (due_at, organization_id)
    WHERE status = 'DRAFT' AND NOT overdue;
CREATE INDEX notes_id ON notes (id);

CREATE TABLE note_versions (
    organization_id uuid NOT NULL,
    note_id uuid NOT NULL,
    version integer NOT NULL CHECK (version > 0),
    -- All sections, one AEAD blob (AAD: organization, note, version).
    sections bytea NOT NULL,
    diagnosis_codes text[] NOT NULL,
    created_by uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (organization_id, note_id, version),
    FOREIGN KEY (organization_id, note_id) REFERENCES notes (organization_id, id) ON DELETE CASCADE,
    FOREIGN KEY (organization_id, created_by) REFERENCES users (organization_id, id)
);

CREATE TABLE note_signatures (
    organization_id uuid NOT NULL,
    id uuid NOT NULL,
    note_id uuid NOT NULL,
    version integer NOT NULL,
    kind text NOT NULL CHECK (kind IN ('SIGN', 'COSIGN', 'RETURN')),
    signer_id uuid NOT NULL,
    -- How the signer re-authenticated.
    method text NOT NULL CHECK (method IN ('password', 'mfa')),
    key_id uuid NOT NULL,
    hmac bytea NOT NULL CHECK (pg_catalog.length(hmac) = 32),
    -- The attestation (SIGN, COSIGN) or the return comment, encrypted.
    statement bytea,
    signed_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (organization_id, id),
    -- A version is signed once, co-signed once, returned once.
    CONSTRAINT note_signatures_once UNIQUE (organization_id, note_id, version, kind),
    FOREIGN KEY (organization_id, note_id, version) REFERENCES note_versions (organization_id, note_id, version),
    FOREIGN KEY (organization_id, signer_id) REFERENCES users (organization_id, id)
);

CREATE TABLE note_addenda (
    organization_id uuid NOT NULL,
    id uuid NOT NULL,
    note_id uuid NOT NULL,
    number integer NOT NULL CHECK (number > 0),
    kind text NOT NULL CHECK (kind IN ('ADDENDUM', 'CORRECTION', 'LATE_ENTRY')),
    -- Reason and text, one AEAD blob (AAD: organization, note, addendum number).
    content bytea NOT NULL,
    author_id uuid NOT NULL,
    method text NOT NULL CHECK (method IN ('password', 'mfa')),
    key_id uuid NOT NULL,
    hmac bytea NOT NULL CHECK (pg_catalog.length(hmac) = 32),
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (organization_id, id),
    CONSTRAINT note_addenda_number UNIQUE (organization_id, note_id, number),
    FOREIGN KEY (organization_id, note_id) REFERENCES notes (organization_id, id),
    FOREIGN KEY (organization_id, author_id) REFERENCES users (organization_id, id)
);

-- Refusals raise SQLSTATE HN001 ("note locked"), which the code maps to 409 NOTE_LOCKED.
CREATE FUNCTION haven_notes.guard_note() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status <> 'DRAFT' THEN
            RAISE EXCEPTION 'a % note cannot be deleted', OLD.status USING ERRCODE = 'HN001';
        END IF;
        RETURN OLD;
    END IF;
    IF NEW.organization_id IS DISTINCT FROM OLD.organization_id OR NEW.id IS DISTINCT FROM OLD.id
       OR NEW.patient_id IS DISTINCT FROM OLD.patient_id
       OR NEW.author_id IS DISTINCT FROM OLD.author_id
       OR NEW.note_type IS DISTINCT FROM OLD.note_type OR NEW.format IS DISTINCT FROM OLD.format
       OR NEW.created_at IS DISTINCT FROM OLD.created_at THEN
        RAISE EXCEPTION 'what a note is about never changes' USING ERRCODE = 'HN001';
    END IF;
    IF OLD.status = 'DRAFT' THEN
        RETURN NEW;
    END IF;
    -- Locked. Links, codes and dates stay; so does the version, except on a RETURN.
    IF NEW.appointment_id IS DISTINCT FROM OLD.appointment_id
       OR NEW.session_id IS DISTINCT FROM OLD.session_id
       OR NEW.diagnosis_codes IS DISTINCT FROM OLD.diagnosis_codes
       OR NEW.service_at IS DISTINCT FROM OLD.service_at
       OR NEW.due_at IS DISTINCT FROM OLD.due_at
       OR (OLD.signed_at IS NOT NULL AND NEW.signed_at IS DISTINCT FROM OLD.signed_at
           AND NOT (OLD.status = 'PENDING_COSIGN' AND NEW.status = 'DRAFT'))
       OR (OLD.cosigned_at IS NOT NULL AND NEW.cosigned_at IS DISTINCT FROM OLD.cosigned_at) THEN
        RAISE EXCEPTION 'a % note is locked', OLD.status USING ERRCODE = 'HN001';
    END IF;
    IF OLD.status = 'PENDING_COSIGN' AND NEW.status = 'DRAFT' THEN
        IF NEW.version <> OLD.version + 1 THEN
            RAISE EXCEPTION 'a returned note goes back to DRAFT at the next version' USING ERRCODE = 'HN001';
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.version <> OLD.version THEN
        RAISE EXCEPTION 'a % note is locked', OLD.status USING ERRCODE = 'HN001';
    END IF;
    IF NEW.status = OLD.status AND OLD.status <> 'ENTERED_IN_ERROR'
       OR (OLD.status = 'PENDING_COSIGN' AND NEW.status IN ('SIGNED', 'ENTERED_IN_ERROR'))
       OR (OLD.status = 'SIGNED' AND NEW.status = 'ENTERED_IN_ERROR') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'a % note cannot become %', OLD.status, NEW.status USING ERRCODE = 'HN001';
END
$$;
CREATE TRIGGER notes_guard BEFORE UPDATE OR DELETE ON notes
    FOR EACH ROW EXECUTE FUNCTION haven_notes.guard_note();

-- A version is written once, to a draft, at the note's current version; it goes only with its
-- draft note (the cascade of deleting the note, whose row is gone by then).
CREATE FUNCTION haven_notes.guard_version() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n record;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        RAISE EXCEPTION 'a note version never changes' USING ERRCODE = 'HN001';
    END IF;
    IF TG_OP = 'DELETE' THEN
        IF EXISTS (SELECT 1 FROM public.notes
                   WHERE organization_id = OLD.organization_id AND id = OLD.note_id) THEN
            RAISE EXCEPTION 'a note version goes only with its draft note' USING ERRCODE = 'HN001';
        END IF;
        RETURN OLD;
    END IF;
    SELECT status, version INTO n FROM public.notes
        WHERE organization_id = NEW.organization_id AND id = NEW.note_id;
    IF NOT FOUND OR n.status <> 'DRAFT' OR n.version <> NEW.version THEN
        RAISE EXCEPTION 'content is written only to a draft, at its current version'
            USING ERRCODE = 'HN001';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER note_versions_guard BEFORE INSERT OR UPDATE OR DELETE ON note_versions
    FOR EACH ROW EXECUTE FUNCTION haven_notes.guard_version();

CREATE FUNCTION haven_notes.refuse_change() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'HN001';
END
$$;
CREATE TRIGGER note_signatures_append_only BEFORE UPDATE OR DELETE ON note_signatures
    FOR EACH ROW EXECUTE FUNCTION haven_notes.refuse_change();
CREATE TRIGGER note_addenda_append_only BEFORE UPDATE OR DELETE ON note_addenda
    FOR EACH ROW EXECUTE FUNCTION haven_notes.refuse_change();
CREATE TRIGGER notes_no_truncate BEFORE TRUNCATE ON notes
    FOR EACH STATEMENT EXECUTE FUNCTION haven_notes.refuse_change();
CREATE TRIGGER note_versions_no_truncate BEFORE TRUNCATE ON note_versions
    FOR EACH STATEMENT EXECUTE FUNCTION haven_notes.refuse_change();
CREATE TRIGGER note_signatures_no_truncate BEFORE TRUNCATE ON note_signatures
    FOR EACH STATEMENT EXECUTE FUNCTION haven_notes.refuse_change();
CREATE TRIGGER note_addenda_no_truncate BEFORE TRUNCATE ON note_addenda
    FOR EACH STATEMENT EXECUTE FUNCTION haven_notes.refuse_change();

-- Addenda go to signed notes only.
CREATE FUNCTION haven_notes.guard_addendum() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM public.notes
                   WHERE organization_id = NEW.organization_id AND id = NEW.note_id
                     AND status = 'SIGNED') THEN
        RAISE EXCEPTION 'addenda go to signed notes only' USING ERRCODE = 'HN001';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER note_addenda_signed_only BEFORE INSERT ON note_addenda
    FOR EACH ROW EXECUTE FUNCTION haven_notes.guard_addendum();

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['supervision_assignments', 'notes', 'note_versions', 'note_signatures', 'note_addenda'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON %I USING (organization_id = current_organization_id()) '
                       'WITH CHECK (organization_id = current_organization_id())', t || '_tenant', t);
        EXECUTE format('CREATE POLICY %I ON %I TO CURRENT_USER USING (true) WITH CHECK (true)', t || '_owner', t);
    END LOOP;
END
$$;
GRANT SELECT, INSERT, UPDATE ON supervision_assignments TO haven_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON notes, note_versions TO haven_app;
GRANT SELECT, INSERT ON note_signatures, note_addenda TO haven_app;

-- Which organization holds a note: a request for another tenant's note is told apart from a
-- request for nothing, so it is audited as cross-tenant.
CREATE FUNCTION haven_auth.note_organization(p_note_id uuid)
    RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT n.organization_id FROM public.notes n WHERE n.id = p_note_id $$;
REVOKE ALL ON FUNCTION haven_auth.note_organization(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION haven_auth.note_organization(uuid) TO haven_app;

-- The organizations with drafts past due not yet flagged: the overdue job's one cross-tenant
-- read (ids only, from the partial index).
CREATE FUNCTION haven_auth.organizations_with_overdue_notes(p_now timestamptz)
    RETURNS SETOF uuid
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT DISTINCT n.organization_id FROM public.notes n
        WHERE n.status = 'DRAFT' AND NOT n.overdue AND n.due_at <= p_now
    $$;
REVOKE ALL ON FUNCTION haven_auth.organizations_with_overdue_notes(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION haven_auth.organizations_with_overdue_notes(timestamptz) TO haven_app;
