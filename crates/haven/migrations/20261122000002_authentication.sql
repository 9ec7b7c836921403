-- Authentication: account protection and MFA on users, signing keys, refresh-token families,
-- MFA backup codes, and the pending-audit outbox that every audited action writes to.

ALTER TABLE users
    ADD COLUMN mfa_enabled boolean NOT NULL DEFAULT false,
    -- TOTP secrets, AES-256-GCM under the master key, bound to the user (see crypto::aead).
    ADD COLUMN mfa_secret bytea,
    ADD COLUMN mfa_pending_secret bytea,
    -- The last TOTP time step accepted: a code is good once, even within its window.
    ADD COLUMN mfa_last_step bigint,
    -- Consecutive failed logins; counted before the password is checked, so parallel guesses
    -- cannot outrun the lock.
    ADD COLUMN failed_logins integer NOT NULL DEFAULT 0 CHECK (failed_logins >= 0),
    ADD COLUMN locked_until timestamptz,
    ADD COLUMN password_changed_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    ADD CONSTRAINT users_mfa_secret_when_enabled CHECK (NOT mfa_enabled OR mfa_secret IS NOT NULL);

-- JWT signing keys: platform-wide, not tenant data. RSA private keys are stored encrypted under
-- the master key; the public half is served in the JWKS.
CREATE TABLE signing_keys (
    kid text PRIMARY KEY CHECK (pg_catalog.length(kid) BETWEEN 8 AND 64),
    algorithm text NOT NULL CHECK (algorithm = 'RS256'),
    public_key_der bytea NOT NULL,
    private_key_encrypted bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    -- When it stopped signing; it stays in the JWKS for the grace period after.
    retired_at timestamptz
);
-- At most one key signs at a time.
CREATE UNIQUE INDEX signing_keys_single_active ON signing_keys ((true)) WHERE retired_at IS NULL;

ALTER TABLE signing_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE signing_keys FORCE ROW LEVEL SECURITY;
-- A platform table: every instance reads all keys (see PLATFORM_TABLES in src/db/catalog.rs).
CREATE POLICY signing_keys_platform ON signing_keys USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE ON signing_keys TO haven_app;

-- A login session: the chain of refresh tokens issued from one login. `sid` in access tokens.
CREATE TABLE refresh_families (
    organization_id uuid NOT NULL REFERENCES organizations (id),
    id uuid NOT NULL,
    user_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    last_used_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    revoked_at timestamptz,
    revoked_reason text CHECK (revoked_reason IN ('logout', 'reuse', 'password_change', 'disabled', 'idle_timeout', 'max_lifetime')),
    PRIMARY KEY (organization_id, id),
    FOREIGN KEY (organization_id, user_id) REFERENCES users (organization_id, id)
);
CREATE INDEX refresh_families_user ON refresh_families (organization_id, user_id) WHERE revoked_at IS NULL;

-- Refresh tokens, stored only as SHA-256 hashes. A token is used once: refreshing rotates it.
CREATE TABLE refresh_tokens (
    organization_id uuid NOT NULL,
    id uuid NOT NULL,
    family_id uuid NOT NULL,
    token_hash bytea NOT NULL CHECK (pg_catalog.length(token_hash) = 32),
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    rotated_at timestamptz,
    PRIMARY KEY (organization_id, id),
    UNIQUE (organization_id, token_hash),
    FOREIGN KEY (organization_id, family_id) REFERENCES refresh_families (organization_id, id)
);
-- The pre-authentication look-up finds a token by hash before its tenant is known.
CREATE INDEX refresh_tokens_hash ON refresh_tokens (token_hash);

-- MFA backup codes: ten per enrolment, stored as SHA-256 hashes, each good once.
CREATE TABLE mfa_backup_codes (
    organization_id uuid NOT NULL,
    user_id uuid NOT NULL,
    id uuid NOT NULL,
    code_hash bytea NOT NULL CHECK (pg_catalog.length(code_hash) = 32),
    used_at timestamptz,
    PRIMARY KEY (organization_id, id),
    FOREIGN KEY (organization_id, user_id) REFERENCES users (organization_id, id)
);
CREATE INDEX mfa_backup_codes_user ON mfa_backup_codes (organization_id, user_id) WHERE used_at IS NULL;

-- Audit events as they are recorded: inserted in the same transaction as the change they
-- describe (or before PHI leaves), then sealed into the hash-chained audit log.
CREATE TABLE audit_outbox (
    organization_id uuid NOT NULL REFERENCES organizations (id),
    id uuid NOT NULL,
    occurred_at timestamptz NOT NULL,
    user_id uuid,
    role text,
    action text NOT NULL CHECK (action ~ '^[A-Z][A-Z_]{1,63}$'),
    entity_type text CHECK (pg_catalog.length(entity_type) <= 64),
    entity_id text CHECK (pg_catalog.length(entity_id) <= 128),
    patient_id uuid,
    access_method text NOT NULL CHECK (access_method IN ('normal', 'break_the_glass', 'super_admin_bypass', 'system')),
    outcome text NOT NULL CHECK (outcome IN ('success', 'denied', 'error')),
    ip inet,
    user_agent text CHECK (pg_catalog.length(user_agent) <= 512),
    request_id text CHECK (pg_catalog.length(request_id) <= 128),
    details jsonb NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (organization_id, id)
);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['refresh_families', 'refresh_tokens', 'mfa_backup_codes', 'audit_outbox'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON %I USING (organization_id = current_organization_id()) '
                       'WITH CHECK (organization_id = current_organization_id())', t || '_tenant', t);
        EXECUTE format('CREATE POLICY %I ON %I TO CURRENT_USER USING (true) WITH CHECK (true)', t || '_owner', t);
    END LOOP;
END
$$;
GRANT SELECT, INSERT, UPDATE ON refresh_families, refresh_tokens, mfa_backup_codes TO haven_app;
GRANT DELETE ON mfa_backup_codes TO haven_app;
-- Recorded events are never changed: the app may only add them (the sealer, later, moves them).
GRANT SELECT, INSERT ON audit_outbox TO haven_app;

-- Refresh without an access token: find the token by its hash, across tenants, and only what
-- the next step needs.
CREATE FUNCTION haven_auth.find_refresh_token(p_token_hash bytea)
    RETURNS TABLE (organization_id uuid, token_id uuid, family_id uuid)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT t.organization_id, t.id, t.family_id
        FROM public.refresh_tokens t
        WHERE t.token_hash = p_token_hash
    $$;
REVOKE ALL ON FUNCTION haven_auth.find_refresh_token(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION haven_auth.find_refresh_token(bytea) TO haven_app;

-- The platform operator's list of practices (the one cross-tenant read of organizations).
CREATE FUNCTION haven_auth.list_organizations(p_limit integer, p_offset integer)
    RETURNS TABLE (id uuid, name text, created_at timestamptz, total bigint)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT o.id, o.name, o.created_at, pg_catalog.count(*) OVER ()
        FROM public.organizations o
        WHERE NOT o.is_platform
        ORDER BY o.created_at, o.id
        LIMIT p_limit OFFSET p_offset
    $$;
REVOKE ALL ON FUNCTION haven_auth.list_organizations(integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION haven_auth.list_organizations(integer, integer) TO haven_app;
