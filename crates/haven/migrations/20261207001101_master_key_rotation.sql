-- Master-key rotation (`haven keys rotate-master`, src/kek).
--
-- Every wrapped key records which master key wrapped it: `kek_id`, a public fingerprint of that
-- key (32 hex digits; src/crypto/kek.rs). Rows stored before this migration have NULL, meaning
-- "one of the keys the deployment had then"; Haven tries the keys it holds on them, and the
-- rotation gives every row an id.
--
-- The secrets that were derived from the master key directly (the audit checkpoint MAC key, the
-- MFA-secret key, the CSRF and DPoP-nonce keys) are stored wrapped too, in `wrapped_secrets`, so
-- that they outlive the key that first derived them. A migration has no key to wrap with: each
-- instance creates the missing rows at start, with the very bytes it used to derive, so nothing
-- written under them (checkpoints, TOTP secrets) needs rewriting.

ALTER TABLE organization_keys ADD COLUMN kek_id text
    CONSTRAINT organization_keys_kek_id_format CHECK (kek_id ~ '^[0-9a-f]{32}$');
ALTER TABLE signing_keys ADD COLUMN kek_id text
    CONSTRAINT signing_keys_kek_id_format CHECK (kek_id ~ '^[0-9a-f]{32}$');

CREATE TABLE wrapped_secrets (
    purpose text PRIMARY KEY
        CHECK (purpose IN ('audit-checkpoints', 'mfa-secrets', 'csrf', 'dpop-nonce')),
    kek_id text NOT NULL CHECK (kek_id ~ '^[0-9a-f]{32}$'),
    -- AES-256-GCM under a key derived from the master key `kek_id` names, with associated data
    -- `wrapped_secrets:<purpose>`.
    wrapped bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    rewrapped_at timestamptz
);
ALTER TABLE wrapped_secrets ENABLE ROW LEVEL SECURITY;
ALTER TABLE wrapped_secrets FORCE ROW LEVEL SECURITY;
-- A platform table: every instance reads them all at start (see PLATFORM_TABLES).
CREATE POLICY wrapped_secrets_platform ON wrapped_secrets USING (true) WITH CHECK (true);
-- No DELETE: a secret that checkpoints or TOTP secrets were made with must never disappear.
GRANT SELECT, INSERT, UPDATE ON wrapped_secrets TO haven_app;

-- A wrapped key written from now on names its master key, and a re-wrap never forgets it: new
-- rows need `kek_id`, and an update may leave it NULL only on a legacy row whose wrapped bytes it
-- does not touch (retiring a data key).
CREATE SCHEMA haven_keys;
CREATE FUNCTION haven_keys.require_kek_id() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
    BEGIN
        IF NEW.kek_id IS NULL AND (
            TG_OP = 'INSERT'
            OR OLD.kek_id IS NOT NULL
            OR (pg_catalog.to_jsonb(NEW) -> TG_ARGV[0])
                IS DISTINCT FROM (pg_catalog.to_jsonb(OLD) -> TG_ARGV[0])
        ) THEN
            RAISE EXCEPTION 'a wrapped key on % must name the master key that wrapped it (kek_id)',
                TG_TABLE_NAME USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END
    $$;
REVOKE ALL ON FUNCTION haven_keys.require_kek_id() FROM PUBLIC;
CREATE TRIGGER organization_keys_require_kek_id BEFORE INSERT OR UPDATE ON organization_keys
    FOR EACH ROW EXECUTE FUNCTION haven_keys.require_kek_id('wrapped_key');
CREATE TRIGGER signing_keys_require_kek_id BEFORE INSERT OR UPDATE ON signing_keys
    FOR EACH ROW EXECUTE FUNCTION haven_keys.require_kek_id('private_key_encrypted');

-- How many wrapped keys each master key wraps, across every organization (NULL: stored before
-- kek ids were). The runtime role cannot read other tenants' keys; this returns ids and counts
-- only, for the rotation to refuse a key it does not hold before it changes anything.
CREATE FUNCTION haven_auth.master_key_usage()
    RETURNS TABLE (kek_id text, wrapped_keys bigint)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT k.kek_id, pg_catalog.count(*)
        FROM (
            SELECT kek_id FROM public.organization_keys
            UNION ALL SELECT kek_id FROM public.signing_keys
            UNION ALL SELECT kek_id FROM public.wrapped_secrets
        ) k
        GROUP BY k.kek_id
        ORDER BY k.kek_id NULLS FIRST
    $$;
REVOKE ALL ON FUNCTION haven_auth.master_key_usage() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION haven_auth.master_key_usage() TO haven_app;
