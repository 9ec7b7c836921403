-- The audit log: append-only, immutable, hash-chained per organization (SPEC §7).
--
-- Requests record events in audit_outbox, in their own transaction. The sealer
-- (haven_audit.seal_pending, run by every instance, one at a time) moves them into audit_log in
-- batches: each event gets the next gapless sequence number of its organization's chain and
-- hash = SHA-256(prev_hash || canonical bytes), the canonical encoding being
-- haven_audit.canonical() (documented in src/audit/chain.rs, which verifies it independently).
-- Nothing can change a sealed row: a trigger refuses UPDATE, DELETE and TRUNCATE for every role,
-- the owner included, and the app role may only read the log.

CREATE SCHEMA haven_audit;
REVOKE ALL ON SCHEMA haven_audit FROM PUBLIC;
GRANT USAGE ON SCHEMA haven_audit TO haven_app;

CREATE TABLE audit_log (
    organization_id uuid NOT NULL REFERENCES organizations (id),
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
CREATE INDEX audit_log_org_action_time ON audit_log (organization_id, action, occurred_at);

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

-- One field of the canonical encoding: NULL is '-', a value is '<octets>:<text>'
-- (netstring-like, so the concatenation is unambiguous).
CREATE FUNCTION haven_audit.field(v text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT CASE WHEN v IS NULL THEN '-' ELSE octet_length(v)::text || ':' || v END $$;

-- The canonical text of one sealed row (without the hashes). Timestamps are integer
-- microseconds since the Unix epoch (no formatting, no rounding), ids lowercase, the IP as
-- host(), details as PostgreSQL's canonical jsonb text.
CREATE FUNCTION haven_audit.canonical(
    p_org uuid, p_seq bigint, p_id uuid, p_at timestamptz, p_user uuid, p_role text,
    p_action text, p_entity_type text, p_entity_id text, p_patient uuid, p_method text,
    p_outcome text, p_ip inet, p_ua text, p_request text, p_details jsonb
) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT 'haven-audit-v1|'
            || haven_audit.field(p_org::text) || haven_audit.field(p_seq::text)
            || haven_audit.field(p_id::text)
            || haven_audit.field((extract(epoch FROM p_at) * 1000000)::bigint::text)
            || haven_audit.field(p_user::text) || haven_audit.field(p_role)
            || haven_audit.field(p_action) || haven_audit.field(p_entity_type)
            || haven_audit.field(p_entity_id) || haven_audit.field(p_patient::text)
            || haven_audit.field(p_method) || haven_audit.field(p_outcome)
            || haven_audit.field(host(p_ip)) || haven_audit.field(p_ua)
            || haven_audit.field(p_request) || haven_audit.field(p_details::text)
    $$;

-- Seals up to p_limit pending events, oldest first, and returns the heads of the chains it
-- extended. One sealer at a time (a transaction-level advisory lock): a second caller waits
-- (p_wait) or returns at once with nothing.
CREATE FUNCTION haven_audit.seal_pending(p_limit integer, p_wait boolean)
    RETURNS TABLE (organization_id uuid, last_sequence bigint, last_hash bytea)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    #variable_conflict use_column
    DECLARE
        r record;
        cur_org uuid := NULL;
        seq bigint;
        prev bytea;
        h bytea;
        heads_org uuid[] := '{}';
        heads_seq bigint[] := '{}';
        heads_hash bytea[] := '{}';
    BEGIN
        IF p_wait THEN
            PERFORM pg_advisory_xact_lock(7236327706281771776);
        ELSIF NOT pg_try_advisory_xact_lock(7236327706281771776) THEN
            RETURN;
        END IF;
        FOR r IN
            WITH batch AS (
                SELECT o.organization_id, o.id FROM public.audit_outbox o
                ORDER BY o.id LIMIT p_limit
            ), taken AS (
                DELETE FROM public.audit_outbox o USING batch b
                WHERE o.organization_id = b.organization_id AND o.id = b.id
                RETURNING o.*
            )
            SELECT * FROM taken ORDER BY taken.organization_id, taken.id
        LOOP
            IF cur_org IS DISTINCT FROM r.organization_id THEN
                IF cur_org IS NOT NULL THEN
                    heads_org := heads_org || cur_org;
                    heads_seq := heads_seq || seq;
                    heads_hash := heads_hash || prev;
                END IF;
                cur_org := r.organization_id;
                SELECT c.last_sequence, c.last_hash INTO seq, prev
                FROM public.audit_chain_heads c WHERE c.organization_id = cur_org FOR UPDATE;
                IF NOT FOUND THEN
                    seq := 0;
                    prev := decode(repeat('00', 32), 'hex');
                END IF;
            END IF;
            seq := seq + 1;
            h := sha256(prev || convert_to(haven_audit.canonical(
                r.organization_id, seq, r.id, r.occurred_at, r.user_id, r.role, r.action,
                r.entity_type, r.entity_id, r.patient_id, r.access_method, r.outcome, r.ip,
                r.user_agent, r.request_id, r.details), 'UTF8'));
            INSERT INTO public.audit_log (organization_id, sequence, occurred_at, id, user_id,
                role, action, entity_type, entity_id, patient_id, access_method, outcome, ip,
                user_agent, request_id, details, prev_hash, hash)
            VALUES (r.organization_id, seq, r.occurred_at, r.id, r.user_id, r.role, r.action,
                r.entity_type, r.entity_id, r.patient_id, r.access_method, r.outcome, r.ip,
                r.user_agent, r.request_id, r.details, prev, h);
            prev := h;
        END LOOP;
        IF cur_org IS NOT NULL THEN
            heads_org := heads_org || cur_org;
            heads_seq := heads_seq || seq;
            heads_hash := heads_hash || prev;
        END IF;
        INSERT INTO public.audit_chain_heads AS c (organization_id, last_sequence, last_hash)
        SELECT * FROM unnest(heads_org, heads_seq, heads_hash)
        ON CONFLICT ON CONSTRAINT audit_chain_heads_pkey
        DO UPDATE SET last_sequence = excluded.last_sequence, last_hash = excluded.last_hash;
        RETURN QUERY SELECT * FROM unnest(heads_org, heads_seq, heads_hash);
    END
    $$;
REVOKE ALL ON FUNCTION haven_audit.seal_pending(integer, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION haven_audit.seal_pending(integer, boolean) TO haven_app;

SELECT haven_audit.ensure_partitions((pg_catalog.now() - interval '1 month')::date, 4);
