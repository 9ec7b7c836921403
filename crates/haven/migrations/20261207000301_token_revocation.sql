-- Revocation is immediate (SPEC §5). Every instance holds in memory the sessions revoked, and the
-- users whose access tokens were ended, within the lifetime of an access token, re-reads them
-- every half second, and refuses those tokens without a database round trip per request
-- (see src/auth/revocation.rs). This is what it reads.

-- Access tokens of this user issued before this instant are refused. Set, in the transaction of
-- the change, when the account is disabled or its role changes.
ALTER TABLE users ADD COLUMN tokens_valid_after timestamptz;

-- The two reads below look only at the last few minutes.
CREATE INDEX users_tokens_valid_after ON users (tokens_valid_after)
    WHERE tokens_valid_after IS NOT NULL;
CREATE INDEX refresh_families_revoked_at ON refresh_families (revoked_at)
    WHERE revoked_at IS NOT NULL;

-- Sessions (refresh families) revoked within the last p_window_seconds (at most two hours),
-- across tenants: ids only.
CREATE FUNCTION haven_auth.recently_revoked_sessions(p_window_seconds integer)
    RETURNS TABLE (id uuid)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT f.id
        FROM public.refresh_families f
        WHERE f.revoked_at > pg_catalog.now()
              - pg_catalog.make_interval(secs => LEAST(GREATEST(p_window_seconds, 0), 7200))
    $$;
REVOKE ALL ON FUNCTION haven_auth.recently_revoked_sessions(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION haven_auth.recently_revoked_sessions(integer) TO haven_app;

-- Users whose tokens were ended within the last p_window_seconds (at most two hours), across
-- tenants: the instant, and the role and disabled flag they have now (a token of another role,
-- or of a disabled account, is refused even if it was issued in the same second).
CREATE FUNCTION haven_auth.recent_token_epochs(p_window_seconds integer)
    RETURNS TABLE (user_id uuid, tokens_valid_after timestamptz, role text, disabled boolean)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT u.id, u.tokens_valid_after, u.role, u.disabled
        FROM public.users u
        WHERE u.tokens_valid_after > pg_catalog.now()
              - pg_catalog.make_interval(secs => LEAST(GREATEST(p_window_seconds, 0), 7200))
    $$;
REVOKE ALL ON FUNCTION haven_auth.recent_token_epochs(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION haven_auth.recent_token_epochs(integer) TO haven_app;
