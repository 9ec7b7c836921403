-- The audit log: append-only, immutable, hash-chained per organization (SPEC §7).
--
-- Requests record events in audit_outbox, in their own transaction. The sealer (src/audit/seal.rs,
-- run by every instance, one at a time) moves them into audit_log in batches: each event gets the
-- next gapless sequence number of its organization's chain and
-- hash = SHA-256(prev_hash || canonical bytes), the canonical encoding documented in
-- src/audit/chain.rs. The sealer reads a batch with haven_audit.pending(), chains it, and hands
-- the numbers and hashes to haven_audit.append(), which moves the rows and refuses a batch that
-- does not continue each chain exactly.
-- Nothing can change a sealed row: a trigger refuses UPDATE, DELETE and TRUNCATE for every role,
-- the owner included, and the app role may only read the log.

CREATE SCHEMA haven_audit;
REVOKE ALL ON SCHEMA haven_audit FROM PUBLIC;
GRANT USAGE ON SCHEMA haven_audit TO haven_app;

-- No foreign key to organizations: every row comes from audit_outbox, whose key already checked
-- it, and a per-row check would slow the sealer for nothing.
CREATE TABLE audit_log (
    organization_id uuid NOT NULL,
    sequence bigint NOT NULL CHECK (sequence > 0),
    occurred_at timestamptz NOT NULL,
    id uuid NOT NULL,
    sealed_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    user_id uuid,
    role text,
    action text NOT NULL,
    entity_type text,
    entity_id text,
    patient_id uuid,
    access_method text NOT NULL,
    outcome text NOT NULL,
    ip inet,
    user_agent text,
    request_id text,
    details jsonb NOT NULL,
    prev_hash bytea NOT NULL CHECK (pg_catalog.length(prev_hash) = 32),
    hash bytea NOT NULL CHECK (pg_catalog.length(hash) = 32),
    -- The partition key must be part of the key; (organization_id, sequence) alone is unique by
    -- construction (one sealer, chain heads) and checked by verification.
    PRIMARY KEY (organization_id, sequence, occurred_at)
) PARTITION BY RANGE (occurred_at);

-- Rows outside every monthly partition (clock skew, a forgotten month) still have a home.
CREATE TABLE audit_log_default PARTITION OF audit_log DEFAULT;

CREATE INDEX audit_log_org_time ON audit_log (organization_id, occurred_at);
CREATE INDEX audit_log_org_user_time ON audit_log (organization_id, user_id, occurred_at) WHERE user_id IS NOT NULL;
CREATE INDEX audit_log_org_patient_time ON audit_log (organization_id, patient_id, occurred_at) WHERE patient_id IS NOT NULL;

ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_log_tenant ON audit_log
    USING (organization_id = current_organization_id())
    WITH CHECK (organization_id = current_organization_id());
CREATE POLICY audit_log_owner ON audit_log TO CURRENT_USER USING (true) WITH CHECK (true);
GRANT SELECT ON audit_log TO haven_app;

CREATE FUNCTION haven_audit.refuse_change() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
    BEGIN
        RAISE EXCEPTION 'the audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END
    $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION haven_audit.refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION haven_audit.refuse_change();
CREATE TRIGGER audit_log_default_no_truncate BEFORE TRUNCATE ON audit_log_default
    FOR EACH STATEMENT EXECUTE FUNCTION haven_audit.refuse_change();

-- The sealer takes the oldest pending events first.
CREATE INDEX audit_outbox_id ON audit_outbox (id);

-- Outbox rows are never edited either; the sealer removes them as it seals them.
CREATE TRIGGER audit_outbox_no_update BEFORE UPDATE ON audit_outbox
    FOR EACH ROW EXECUTE FUNCTION haven_audit.refuse_change();

-- Monthly partitions, created ahead of time (by this migration and by the sealer daily).
CREATE FUNCTION haven_audit.ensure_partitions(p_from date, p_months integer) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    DECLARE
        month date := date_trunc('month', p_from)::date;
        created integer := 0;
        name text;
    BEGIN
        FOR i IN 0 .. p_months - 1 LOOP
            name := format('audit_log_y%sm%s', to_char(month, 'YYYY'), to_char(month, 'MM'));
            IF to_regclass('public.' || name) IS NULL THEN
                EXECUTE format(
                    'CREATE TABLE public.%I PARTITION OF public.audit_log FOR VALUES FROM (%L) TO (%L)',
                    name, month, (month + interval '1 month')::date);
                EXECUTE format(
                    'CREATE TRIGGER %I BEFORE TRUNCATE ON public.%I FOR EACH STATEMENT '
                    'EXECUTE FUNCTION haven_audit.refuse_change()', name || '_no_truncate', name);
                created := created + 1;
            END IF;
            month := (month + interval '1 month')::date;
        END LOOP;
        RETURN created;
    END
    $$;
REVOKE ALL ON FUNCTION haven_audit.ensure_partitions(date, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION haven_audit.ensure_partitions(date, integer) TO haven_app;

-- Each chain's last link.
CREATE TABLE audit_chain_heads (
    organization_id uuid NOT NULL REFERENCES organizations (id),
    last_sequence bigint NOT NULL,
    last_hash bytea NOT NULL,
    PRIMARY KEY (organization_id)
);
ALTER TABLE audit_chain_heads ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_chain_heads FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_chain_heads_tenant ON audit_chain_heads
    USING (organization_id = current_organization_id())
    WITH CHECK (organization_id = current_organization_id());
CREATE POLICY audit_chain_heads_owner ON audit_chain_heads TO CURRENT_USER USING (true) WITH CHECK (true);
GRANT SELECT ON audit_chain_heads TO haven_app;

-- Signed chain heads: verification compares the chain with them, so cutting off the tail of a
-- chain is detected. The signature (HMAC under a key derived from the master key) is made by
-- the application, which the database alone cannot forge.
CREATE TABLE audit_checkpoints (
    organization_id uuid NOT NULL REFERENCES organizations (id),
    sequence bigint NOT NULL,
    hash bytea NOT NULL CHECK (pg_catalog.length(hash) = 32),
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    signature bytea NOT NULL CHECK (pg_catalog.length(signature) = 32),
    PRIMARY KEY (organization_id, sequence)
);
ALTER TABLE audit_checkpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_checkpoints FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_checkpoints_tenant ON audit_checkpoints
    USING (organization_id = current_organization_id())
    WITH CHECK (organization_id = current_organization_id());
CREATE POLICY audit_checkpoints_owner ON audit_checkpoints TO CURRENT_USER USING (true) WITH CHECK (true);
GRANT SELECT, INSERT ON audit_checkpoints TO haven_app;
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION haven_audit.refuse_change();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION haven_audit.refuse_change();

-- The sealer's batch: up to p_limit pending events, oldest first, locked, with the text forms
-- the canonical encoding uses (see src/audit/chain.rs), grouped by organization.
CREATE FUNCTION haven_audit.pending(p_limit integer)
    RETURNS TABLE (organization_id text, id text, occurred_at_us bigint, user_id text, role text,
                   action text, entity_type text, entity_id text, patient_id text,
                   access_method text, outcome text, ip text, user_agent text, request_id text,
                   details text)
    LANGUAGE sql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT o.organization_id::text, o.id::text,
               (extract(epoch FROM o.occurred_at) * 1000000)::bigint, o.user_id::text, o.role,
               o.action, o.entity_type, o.entity_id, o.patient_id::text, o.access_method,
               o.outcome, host(o.ip), o.user_agent, o.request_id, o.details::text
        FROM (SELECT * FROM public.audit_outbox x ORDER BY x.id LIMIT p_limit FOR UPDATE) o
        ORDER BY o.organization_id, o.id
    $$;
REVOKE ALL ON FUNCTION haven_audit.pending(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION haven_audit.pending(integer) TO haven_app;

-- The chain heads of these organizations.
CREATE FUNCTION haven_audit.heads(p_orgs uuid[])
    RETURNS TABLE (organization_id uuid, last_sequence bigint, last_hash bytea)
    LANGUAGE sql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT c.organization_id, c.last_sequence, c.last_hash
        FROM public.audit_chain_heads c
        WHERE c.organization_id = ANY (p_orgs)
        FOR UPDATE
    $$;
REVOKE ALL ON FUNCTION haven_audit.heads(uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION haven_audit.heads(uuid[]) TO haven_app;

-- Moves a chained batch from the outbox into the log and advances the heads: set-based, in the
-- caller's transaction. The content comes from the outbox rows themselves; only the numbers and
-- hashes come from the caller, and a batch that does not continue every chain gaplessly from its
-- head (or does not link to the head's hash) is refused. Wrong hashes would show in verification.
CREATE FUNCTION haven_audit.append(p_orgs uuid[], p_ids uuid[], p_seqs bigint[], p_prevs bytea[], p_hashes bytea[])
    RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    DECLARE
        moved integer;
    BEGIN
        IF NOT pg_try_advisory_xact_lock(7236327706281771776) THEN
            RAISE EXCEPTION 'the sealer lock is not held';
        END IF;
        IF EXISTS (
            SELECT 1
            FROM (SELECT s.org, min(s.seq) AS lo, max(s.seq) AS hi, count(*) AS n,
                         (array_agg(s.prev ORDER BY s.seq))[1] AS first_prev
                  FROM unnest(p_orgs, p_seqs, p_prevs) AS s(org, seq, prev) GROUP BY s.org) b
            LEFT JOIN public.audit_chain_heads h ON h.organization_id = b.org
            WHERE b.lo <> coalesce(h.last_sequence, 0) + 1
               OR b.hi - b.lo + 1 <> b.n
               OR b.first_prev <> coalesce(h.last_hash, decode(repeat('00', 32), 'hex'))
        ) THEN
            RAISE EXCEPTION 'the batch does not continue the audit chains';
        END IF;
        INSERT INTO public.audit_log (organization_id, sequence, occurred_at, id, user_id, role,
            action, entity_type, entity_id, patient_id, access_method, outcome, ip, user_agent,
            request_id, details, prev_hash, hash)
        SELECT o.organization_id, s.seq, o.occurred_at, o.id, o.user_id, o.role, o.action,
            o.entity_type, o.entity_id, o.patient_id, o.access_method, o.outcome, o.ip,
            o.user_agent, o.request_id, o.details, s.prev, s.hash
        FROM unnest(p_orgs, p_ids, p_seqs, p_prevs, p_hashes) AS s(org, id, seq, prev, hash)
        JOIN public.audit_outbox o ON o.organization_id = s.org AND o.id = s.id;
        GET DIAGNOSTICS moved = ROW_COUNT;
        IF moved <> cardinality(p_ids) THEN
            RAISE EXCEPTION 'the batch names events that are not pending';
        END IF;
        DELETE FROM public.audit_outbox o
        USING unnest(p_orgs, p_ids) AS s(org, id)
        WHERE o.organization_id = s.org AND o.id = s.id;
        INSERT INTO public.audit_chain_heads AS c (organization_id, last_sequence, last_hash)
        SELECT DISTINCT ON (s.org) s.org, s.seq, s.hash
        FROM unnest(p_orgs, p_seqs, p_hashes) AS s(org, seq, hash)
        ORDER BY s.org, s.seq DESC
        ON CONFLICT ON CONSTRAINT audit_chain_heads_pkey
        DO UPDATE SET last_sequence = excluded.last_sequence, last_hash = excluded.last_hash;
        RETURN moved;
    END
    $$;
REVOKE ALL ON FUNCTION haven_audit.append(uuid[], uuid[], bigint[], bytea[], bytea[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION haven_audit.append(uuid[], uuid[], bigint[], bytea[], bytea[]) TO haven_app;

SELECT haven_audit.ensure_partitions((pg_catalog.now() - interval '1 month')::date, 4);
