-- Foundation: the runtime role, the tenant helpers, organizations and users under forced
-- row-level security, and the pre-authentication look-up.
--
-- Conventions every later migration follows (the catalog tests in src/db/catalog.rs enforce them):
--   * a tenant table has `organization_id uuid NOT NULL`, first in its primary key and in every
--     unique constraint and foreign key (so it can be distributed by organization);
--   * ROW LEVEL SECURITY is enabled AND forced, with a policy comparing organization_id with
--     current_organization_id();
--   * the only other policy allowed is the migrating (owner) role's own, created `TO CURRENT_USER`;
--     it lets SECURITY DEFINER functions and data migrations see every tenant;
--   * privileges are granted explicitly to haven_app; it owns nothing.

-- The runtime role. Deployments log in as haven_app or as a login role that is granted it.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'haven_app') THEN
        CREATE ROLE haven_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO haven_app;
-- /ready compares the applied migrations with the ones the binary carries.
GRANT SELECT ON _sqlx_migrations TO haven_app;

-- The tenant of the current transaction, or NULL when none is set. Set only with
-- set_config(.., true), so it ends with the transaction; a pooled connection that once had it
-- then reports '' rather than NULL, which NULLIF turns back into "no tenant".
CREATE FUNCTION current_organization_id() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT NULLIF(pg_catalog.current_setting('app.current_organization_id', true), '')::uuid $$;

CREATE FUNCTION current_app_user_id() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT NULLIF(pg_catalog.current_setting('app.current_user_id', true), '')::uuid $$;

CREATE TABLE organizations (
    id uuid PRIMARY KEY,
    name text NOT NULL CHECK (pg_catalog.length(name) BETWEEN 1 AND 200),
    -- The one platform organization holds the platform operators (SUPER_ADMIN) and the
    -- platform audit chain; it is never a practice.
    is_platform boolean NOT NULL DEFAULT false,
    require_mfa_for_admins boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE UNIQUE INDEX organizations_single_platform ON organizations (is_platform) WHERE is_platform;

ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
ALTER TABLE organizations FORCE ROW LEVEL SECURITY;
CREATE POLICY organizations_tenant ON organizations
    USING (id = current_organization_id())
    WITH CHECK (id = current_organization_id());
CREATE POLICY organizations_owner ON organizations TO CURRENT_USER USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE ON organizations TO haven_app;

INSERT INTO organizations (id, name, is_platform)
VALUES ('00000000-0000-0000-0000-000000000000', 'Haven platform', true);

CREATE TABLE users (
    organization_id uuid NOT NULL REFERENCES organizations (id),
    id uuid NOT NULL,
    email text NOT NULL CHECK (pg_catalog.length(email) BETWEEN 3 AND 254),
    password_hash text NOT NULL,
    role text NOT NULL CHECK (role IN ('SUPER_ADMIN', 'ADMIN', 'CLINICIAN', 'BILLING', 'COMPLIANCE')),
    first_name text NOT NULL CHECK (pg_catalog.length(first_name) BETWEEN 1 AND 100),
    last_name text NOT NULL CHECK (pg_catalog.length(last_name) BETWEEN 1 AND 100),
    disabled boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (organization_id, id),
    -- Platform operators live in the platform organization, and nobody else does.
    CONSTRAINT users_super_admin_in_platform CHECK (
        (role = 'SUPER_ADMIN') = (organization_id = '00000000-0000-0000-0000-000000000000')
    )
);
-- Emails are unique across the platform, case-insensitively: login looks a user up by email
-- before any tenant is known. The one deliberate unique index without organization_id (see
-- GLOBAL_UNIQUE_INDEXES in src/db/catalog.rs): on a distributed database, users is a small
-- reference table.
CREATE UNIQUE INDEX users_email_unique ON users (pg_catalog.lower(email));

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY users_tenant ON users
    USING (organization_id = current_organization_id())
    WITH CHECK (organization_id = current_organization_id());
CREATE POLICY users_owner ON users TO CURRENT_USER USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE ON users TO haven_app;

-- Pre-authentication look-ups: narrow SECURITY DEFINER functions in their own schema, with a
-- pinned search_path, executable by haven_app only.
CREATE SCHEMA haven_auth;
REVOKE ALL ON SCHEMA haven_auth FROM PUBLIC;
GRANT USAGE ON SCHEMA haven_auth TO haven_app;

-- Login: the one user with this email (case-insensitive), whatever their organization, and only
-- what the password check needs.
CREATE FUNCTION haven_auth.find_login_user(p_email text)
    RETURNS TABLE (user_id uuid, organization_id uuid, role text, password_hash text, disabled boolean)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT u.id, u.organization_id, u.role, u.password_hash, u.disabled
        FROM public.users u
        WHERE pg_catalog.lower(u.email) = pg_catalog.lower(p_email)
    $$;
REVOKE ALL ON FUNCTION haven_auth.find_login_user(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION haven_auth.find_login_user(text) TO haven_app;
