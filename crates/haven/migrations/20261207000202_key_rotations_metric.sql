-- haven_key_rotations_total (SPEC §9), read at scrape time like haven_password_hashes: every
-- rotation retires the key it replaces (signing keys, and each organization's PHI data key) in
-- the transaction that makes the new one, and keys are never deleted, so the retired keys are
-- the committed rotations, whichever process made them (`haven keys rotate` runs apart from the
-- server). The runtime role cannot read other tenants' keys; this returns one number.
CREATE FUNCTION haven_auth.key_rotations() RETURNS bigint
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT (SELECT pg_catalog.count(*) FROM public.signing_keys WHERE retired_at IS NOT NULL)
             + (SELECT pg_catalog.count(*) FROM public.organization_keys
                WHERE purpose = 'data' AND retired_at IS NOT NULL)
    $$;
REVOKE ALL ON FUNCTION haven_auth.key_rotations() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION haven_auth.key_rotations() TO haven_app;
