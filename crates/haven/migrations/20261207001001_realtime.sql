-- Realtime notifications (SPEC §8 "Realtime notifications", issue 20): single-use WebSocket
-- tickets, and the narrow look-ups of the realtime tailer.
--
-- A ticket is random, valid 30 seconds, stored only as its SHA-256, bound to the user,
-- organization, role and login session that asked for it. Redeeming one is a single UPDATE
-- that marks it used only when it is unused and unexpired: two upgrades racing for the same
-- ticket cannot both win.
CREATE TABLE realtime_tickets (
    organization_id uuid NOT NULL REFERENCES organizations (id),
    id uuid NOT NULL,
    token_hash bytea NOT NULL CHECK (pg_catalog.length(token_hash) = 32),
    user_id uuid NOT NULL,
    role text NOT NULL CHECK (role IN ('SUPER_ADMIN', 'ADMIN', 'CLINICIAN', 'BILLING', 'COMPLIANCE', 'SCHEDULER')),
    session_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    PRIMARY KEY (organization_id, id),
    UNIQUE (organization_id, token_hash),
    FOREIGN KEY (organization_id, user_id) REFERENCES users (organization_id, id),
    CONSTRAINT realtime_tickets_lifetime CHECK (expires_at > created_at
        AND expires_at <= created_at + interval '30 seconds'),
    CONSTRAINT realtime_tickets_used CHECK (used_at IS NULL OR used_at >= created_at)
);
-- Redeeming happens before the organization is known: by hash alone.
CREATE INDEX realtime_tickets_hash ON realtime_tickets (token_hash);
CREATE INDEX realtime_tickets_expiry ON realtime_tickets (organization_id, expires_at);

ALTER TABLE realtime_tickets ENABLE ROW LEVEL SECURITY;
ALTER TABLE realtime_tickets FORCE ROW LEVEL SECURITY;
CREATE POLICY realtime_tickets_tenant ON realtime_tickets
    USING (organization_id = current_organization_id())
    WITH CHECK (organization_id = current_organization_id());
CREATE POLICY realtime_tickets_owner ON realtime_tickets TO CURRENT_USER USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, DELETE ON realtime_tickets TO haven_app;

-- Redeems the ticket with this hash: marks it used and returns what it is bound to, or nothing
-- when it is unknown, used or expired. One statement: single use is the database's guarantee.
CREATE FUNCTION haven_auth.redeem_realtime_ticket(p_hash bytea)
    RETURNS TABLE (organization_id uuid, user_id uuid, role text, session_id uuid, created_at timestamptz)
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        UPDATE public.realtime_tickets t
        SET used_at = pg_catalog.now()
        WHERE t.token_hash = p_hash AND t.used_at IS NULL AND t.expires_at > pg_catalog.now()
        RETURNING t.organization_id, t.user_id, t.role, t.session_id, t.created_at
    $$;
REVOKE ALL ON FUNCTION haven_auth.redeem_realtime_ticket(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION haven_auth.redeem_realtime_ticket(bytea) TO haven_app;

-- The realtime tailer's read of one organization's sealed chain after a sequence number: only
-- the fields of a thin event, only the actions the caller maps to events, in sequence order.
-- Besides ids and the action: `owner_id`, whose calendar or note it is (an appointment's
-- clinician, a note's author), `state` (a note's status after the action, an authorization's
-- available units) and `restricted` (a psychotherapy note: its events go to its author only).
CREATE FUNCTION haven_auth.realtime_feed(p_organization uuid, p_after bigint, p_actions text[], p_limit integer)
    RETURNS TABLE (sequence bigint, occurred_at timestamptz, action text, entity_type text,
                   entity_id text, patient_id uuid, owner_id uuid, state text, restricted boolean)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT a.sequence, a.occurred_at, a.action, a.entity_type, a.entity_id, a.patient_id,
               coalesce(n.author_id,
                        CASE WHEN a.details ->> 'clinicianId' ~ '^[0-9a-f-]{36}$'
                             THEN (a.details ->> 'clinicianId')::uuid END),
               coalesce(a.details ->> 'status', a.details ->> 'availableUnits'),
               coalesce(n.note_type = 'PSYCHOTHERAPY', false)
        FROM public.audit_log a
        LEFT JOIN public.notes n ON a.entity_type = 'note' AND n.organization_id = a.organization_id
                                AND n.id::text = a.entity_id
        WHERE a.organization_id = p_organization AND a.sequence > p_after
          AND a.outcome = 'success' AND a.action = ANY (p_actions)
        ORDER BY a.sequence
        LIMIT p_limit
    $$;
REVOKE ALL ON FUNCTION haven_auth.realtime_feed(uuid, bigint, text[], integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION haven_auth.realtime_feed(uuid, bigint, text[], integer) TO haven_app;

-- The head of each of these organizations' sealed chains (ids and numbers only): where the
-- tailer starts, and which organizations have anything new.
CREATE FUNCTION haven_auth.realtime_heads(p_organizations uuid[])
    RETURNS TABLE (organization_id uuid, last_sequence bigint)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT h.organization_id, h.last_sequence
        FROM public.audit_chain_heads h
        WHERE h.organization_id = ANY (p_organizations)
    $$;
REVOKE ALL ON FUNCTION haven_auth.realtime_heads(uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION haven_auth.realtime_heads(uuid[]) TO haven_app;
