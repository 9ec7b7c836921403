-- Break-the-glass (SPEC §5): time-bound emergency access of one user to one patient, justified,
-- revocable and reviewed. A grant is active while it is neither revoked nor past `expires_at`
-- (compared with now() on every request; the expiry job only records BTG_EXPIRED).
--
-- The app role may insert grants and update only the columns that record what happened to them
-- afterwards (revocation, the expiry record, the review): who, for whom, why, how long and until
-- when can never be changed by a request.

CREATE TABLE btg_grants (
    organization_id uuid NOT NULL REFERENCES organizations (id),
    id uuid NOT NULL,
    granted_by_user_id uuid NOT NULL,
    granted_to_user_id uuid NOT NULL,
    patient_id uuid NOT NULL,
    justification text NOT NULL
        CHECK (pg_catalog.char_length(justification) BETWEEN 50 AND 2000),
    duration_minutes integer NOT NULL
        CHECK (duration_minutes IN (15, 30, 60, 120, 240, 480)),
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz,
    revoked_by_user_id uuid,
    revoked_reason text CHECK (pg_catalog.char_length(revoked_reason) BETWEEN 1 AND 1000),
    -- When the expiry job recorded BTG_EXPIRED (once per grant).
    expiry_recorded_at timestamptz,
    reviewed_at timestamptz,
    reviewed_by_user_id uuid,
    review_outcome text CHECK (review_outcome IN ('appropriate', 'inappropriate')),
    review_notes text CHECK (pg_catalog.char_length(review_notes) <= 2000),
    PRIMARY KEY (organization_id, id),
    CHECK (expires_at > created_at),
    CHECK ((revoked_at IS NULL) = (revoked_by_user_id IS NULL)
           AND (revoked_at IS NULL) = (revoked_reason IS NULL)),
    CHECK ((reviewed_at IS NULL) = (reviewed_by_user_id IS NULL)
           AND (reviewed_at IS NULL) = (review_outcome IS NULL)),
    FOREIGN KEY (organization_id, granted_by_user_id) REFERENCES users (organization_id, id),
    FOREIGN KEY (organization_id, granted_to_user_id) REFERENCES users (organization_id, id),
    FOREIGN KEY (organization_id, patient_id) REFERENCES patients (organization_id, id),
    FOREIGN KEY (organization_id, revoked_by_user_id) REFERENCES users (organization_id, id),
    FOREIGN KEY (organization_id, reviewed_by_user_id) REFERENCES users (organization_id, id)
);
-- "Does this user hold an active grant for this patient?" (every patient request of a grantee).
CREATE INDEX btg_grants_holder ON btg_grants (organization_id, granted_to_user_id, patient_id, expires_at)
    WHERE revoked_at IS NULL;
-- The list, newest first.
CREATE INDEX btg_grants_created ON btg_grants (organization_id, created_at DESC, id DESC);
-- The expiry job: lapsed grants whose expiry is not recorded yet, across organizations.
CREATE INDEX btg_grants_pending_expiry ON btg_grants (expires_at)
    WHERE revoked_at IS NULL AND expiry_recorded_at IS NULL;
-- Which organization holds a grant id (cross-tenant attempts are audited).
CREATE INDEX btg_grants_id ON btg_grants (id);

ALTER TABLE btg_grants ENABLE ROW LEVEL SECURITY;
ALTER TABLE btg_grants FORCE ROW LEVEL SECURITY;
CREATE POLICY btg_grants_tenant ON btg_grants
    USING (organization_id = current_organization_id())
    WITH CHECK (organization_id = current_organization_id());
CREATE POLICY btg_grants_owner ON btg_grants TO CURRENT_USER USING (true) WITH CHECK (true);

GRANT SELECT, INSERT ON btg_grants TO haven_app;
GRANT UPDATE (revoked_at, revoked_by_user_id, revoked_reason, expiry_recorded_at,
              reviewed_at, reviewed_by_user_id, review_outcome, review_notes)
    ON btg_grants TO haven_app;

-- Which organization holds a grant: tells a request for another tenant's grant apart from a
-- request for nothing, so the attempt is audited as cross-tenant (the caller still gets 404).
CREATE FUNCTION haven_auth.btg_grant_organization(p_grant_id uuid)
    RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT g.organization_id FROM public.btg_grants g WHERE g.id = p_grant_id $$;
REVOKE ALL ON FUNCTION haven_auth.btg_grant_organization(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION haven_auth.btg_grant_organization(uuid) TO haven_app;

-- The organizations with a lapsed grant whose expiry is not recorded yet: the expiry job then
-- works in each one's own tenant transaction. Returns ids only, at most p_limit of them.
CREATE FUNCTION haven_auth.btg_lapsed_organizations(p_limit integer)
    RETURNS SETOF uuid
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT DISTINCT g.organization_id FROM public.btg_grants g
        WHERE g.revoked_at IS NULL AND g.expiry_recorded_at IS NULL AND g.expires_at <= now()
        LIMIT p_limit
    $$;
REVOKE ALL ON FUNCTION haven_auth.btg_lapsed_organizations(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION haven_auth.btg_lapsed_organizations(integer) TO haven_app;
