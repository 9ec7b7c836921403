-- Password spraying across practices (SPEC §8, FAILED_LOGIN_BURST on the platform chain): one
-- address failing on accounts of several practices, each practice staying below its own
-- thresholds. Failures against known accounts are sealed in each practice's chain, so the check
-- reads across tenants; it does so only through the function below, which returns addresses,
-- counts and organization ids (never a user, a patient or a detail) and moves its own cursors.

-- How far the cross-practice check has read each practice's chain (its own cursors: the
-- per-practice detector keeps its own). Only the function below touches it.
CREATE TABLE breach_spray_cursors (
    organization_id uuid NOT NULL REFERENCES organizations (id),
    last_sequence bigint NOT NULL CHECK (last_sequence >= 0),
    updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (organization_id)
);
REVOKE ALL ON breach_spray_cursors FROM PUBLIC;
-- The app role has no grant on it; the tenancy policies hold all the same.
ALTER TABLE breach_spray_cursors ENABLE ROW LEVEL SECURITY;
ALTER TABLE breach_spray_cursors FORCE ROW LEVEL SECURITY;
CREATE POLICY breach_spray_cursors_tenant ON breach_spray_cursors
    USING (organization_id = current_organization_id())
    WITH CHECK (organization_id = current_organization_id());
CREATE POLICY breach_spray_cursors_owner ON breach_spray_cursors TO CURRENT_USER
    USING (true) WITH CHECK (true);

-- The look-back by address across practices (the per-practice index leads with the practice).
CREATE INDEX audit_log_login_failures_by_ip ON audit_log (ip, occurred_at)
    WHERE action = 'LOGIN_FAILURE';

-- Reads every practice's LOGIN_FAILURE rows sealed after its spray cursor (at most p_batch
-- sequence numbers per practice), moves the cursors past them, and returns each address among
-- them whose failures in the p_window_minutes before its last new failure span at least
-- p_min_accounts accounts in at least p_min_practices practices. Runs inside the caller's
-- transaction: the incidents it leads to commit with the cursor move, or neither does.
CREATE FUNCTION haven_auth.breach_spray_scan(p_batch bigint, p_window_minutes integer,
                                             p_min_accounts bigint, p_min_practices bigint)
    RETURNS TABLE (ip text, practices bigint, accounts bigint, failures bigint,
                   new_failures bigint, first_seen timestamptz, last_seen timestamptz,
                   organization_ids uuid[])
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        WITH c AS (
            SELECT h.organization_id, coalesce(s.last_sequence, 0) AS after,
                   least(h.last_sequence, coalesce(s.last_sequence, 0) + p_batch) AS upto
            FROM public.audit_chain_heads h
            LEFT JOIN public.breach_spray_cursors s ON s.organization_id = h.organization_id
            WHERE h.organization_id <> '00000000-0000-0000-0000-000000000000'::uuid
              AND h.last_sequence > coalesce(s.last_sequence, 0)
        ),
        -- A data-modifying WITH runs to completion whether or not the query reads it.
        moved AS (
            INSERT INTO public.breach_spray_cursors AS s (organization_id, last_sequence)
            SELECT c.organization_id, c.upto FROM c
            ON CONFLICT (organization_id) DO UPDATE
                SET last_sequence = excluded.last_sequence, updated_at = pg_catalog.now()
        ),
        n AS (
            SELECT a.ip, count(*) AS cnt, min(a.occurred_at) AS first_at, max(a.occurred_at) AS last_at
            FROM c
            JOIN public.audit_log a ON a.organization_id = c.organization_id
                 AND a.sequence > c.after AND a.sequence <= c.upto
            WHERE a.action = 'LOGIN_FAILURE' AND a.ip IS NOT NULL
            GROUP BY a.ip
        )
        SELECT pg_catalog.host(n.ip), w.practices, w.accounts, w.failures, n.cnt, n.first_at,
               n.last_at, w.organization_ids
        FROM n CROSS JOIN LATERAL (
            SELECT count(DISTINCT a.organization_id) AS practices,
                   count(DISTINCT a.user_id) AS accounts, count(*) AS failures,
                   array_agg(DISTINCT a.organization_id) AS organization_ids
            FROM public.audit_log a
            WHERE a.action = 'LOGIN_FAILURE' AND a.ip = n.ip
              AND a.organization_id <> '00000000-0000-0000-0000-000000000000'::uuid
              AND a.occurred_at > n.last_at - make_interval(mins => p_window_minutes)
              AND a.occurred_at <= n.last_at) w
        WHERE w.practices >= p_min_practices AND w.accounts >= p_min_accounts
    $$;
REVOKE ALL ON FUNCTION haven_auth.breach_spray_scan(bigint, integer, bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION haven_auth.breach_spray_scan(bigint, integer, bigint, bigint) TO haven_app;
