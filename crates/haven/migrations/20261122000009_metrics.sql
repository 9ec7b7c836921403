-- haven_password_hashes{algorithm} (SPEC §9): how many users have each kind of password hash,
-- across every organization. The runtime role cannot read users of other tenants; this function
-- returns three counts and nothing else.
CREATE FUNCTION haven_auth.password_hash_algorithms()
    RETURNS TABLE (algorithm text, users bigint)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT CASE
                   WHEN u.password_hash LIKE '$argon2id$%' THEN 'argon2id'
                   WHEN u.password_hash LIKE '$2_$%' THEN 'bcrypt'
                   ELSE 'other'
               END,
               pg_catalog.count(*)
        FROM public.users u
        GROUP BY 1
    $$;
REVOKE ALL ON FUNCTION haven_auth.password_hash_algorithms() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION haven_auth.password_hash_algorithms() TO haven_app;
