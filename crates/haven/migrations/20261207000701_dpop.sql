-- DPoP (RFC 9449, SPEC §5): a practice's mode, and the key a refresh family is bound to.

-- disabled: proofs are ignored and tokens are bearer tokens; optional (default): a client that
-- proves a key gets a bound token; required: bearer logins and refreshes are refused (cookie
-- sessions are unchanged).
ALTER TABLE organizations ADD COLUMN dpop_mode text NOT NULL DEFAULT 'optional'
    CHECK (dpop_mode IN ('disabled', 'optional', 'required'));

-- The RFC 7638 thumbprint (base64url of a SHA-256: 43 characters) of the key that started the
-- family. Fixed at login: a refresh proven by another key revokes the family.
ALTER TABLE refresh_families ADD COLUMN dpop_jkt text
    CHECK (dpop_jkt ~ '^[A-Za-z0-9_-]{43}$');

ALTER TABLE refresh_families DROP CONSTRAINT refresh_families_revoked_reason_check;
ALTER TABLE refresh_families ADD CONSTRAINT refresh_families_revoked_reason_check
    CHECK (revoked_reason IN ('logout', 'reuse', 'password_change', 'disabled', 'idle_timeout',
                              'max_lifetime', 'dpop_key_mismatch'));

-- The key is written once, with the family.
CREATE FUNCTION haven_auth.refresh_family_key_fixed() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NEW.dpop_jkt IS DISTINCT FROM OLD.dpop_jkt THEN
        RAISE EXCEPTION 'the DPoP key of a session cannot change' USING ERRCODE = '55000';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER refresh_families_key_fixed BEFORE UPDATE OF dpop_jkt ON refresh_families
    FOR EACH ROW EXECUTE FUNCTION haven_auth.refresh_family_key_fixed();
