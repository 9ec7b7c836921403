-- Breach detection (SPEC §8 "Breach detection", issue 19): detection rules per practice, the
-- detector's cursor per organization, security incidents and their append-only history.
--
-- The detector (src/security/detector.rs) reads each organization's sealed audit chain after
-- its cursor, in a tenant transaction, and writes its findings and the advanced cursor in that
-- same transaction: a crash before COMMIT leaves both untouched, so no row is skipped or
-- counted twice. Requests never write here (no trigger, no lock on any request path).
--
-- One open incident per rule and subject is the database's guarantee: a partial unique index
-- over the open statuses, which the detector's upsert names in ON CONFLICT.

-- The practice's business hours (AFTER_HOURS_ACCESS), in its time zone: local start and end,
-- ISO days of week (1 = Monday). The default is SPEC §8's: 06:00–22:00 on weekdays.
ALTER TABLE organizations
    ADD COLUMN business_hours_start time NOT NULL DEFAULT '06:00',
    ADD COLUMN business_hours_end time NOT NULL DEFAULT '22:00',
    ADD COLUMN business_days smallint[] NOT NULL DEFAULT '{1,2,3,4,5}',
    ADD CONSTRAINT organizations_business_hours CHECK (
        business_hours_end > business_hours_start
        AND pg_catalog.cardinality(business_days) BETWEEN 0 AND 7
        AND business_days <@ ARRAY[1, 2, 3, 4, 5, 6, 7]::smallint[]);

-- A practice's configuration of one rule kind. No row: the SPEC's defaults (src/security/rules.rs).
CREATE TABLE detection_rules (
    organization_id uuid NOT NULL REFERENCES organizations (id),
    kind text NOT NULL CHECK (kind IN ('EXCESSIVE_PHI_ACCESS', 'FAILED_LOGIN_BURST',
        'AFTER_HOURS_ACCESS', 'PRIVILEGE_ESCALATION', 'BULK_EXPORT')),
    enabled boolean NOT NULL,
    -- Positive integer thresholds by name; the names per kind are checked by the API.
    thresholds jsonb NOT NULL CHECK (pg_catalog.jsonb_typeof(thresholds) = 'object'),
    severity text NOT NULL CHECK (severity IN ('LOW', 'MEDIUM', 'HIGH', 'CRITICAL')),
    auto_action text CHECK (auto_action IN ('REVOKE_SESSIONS')),
    updated_by uuid,
    updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (organization_id, kind)
);

-- How far the detector has read each organization's chain.
CREATE TABLE breach_detector_cursors (
    organization_id uuid NOT NULL REFERENCES organizations (id),
    last_sequence bigint NOT NULL DEFAULT 0 CHECK (last_sequence >= 0),
    updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (organization_id)
);

CREATE TABLE security_incidents (
    organization_id uuid NOT NULL REFERENCES organizations (id),
    id uuid NOT NULL,
    rule_kind text NOT NULL CHECK (rule_kind IN ('EXCESSIVE_PHI_ACCESS', 'FAILED_LOGIN_BURST',
        'AFTER_HOURS_ACCESS', 'PRIVILEGE_ESCALATION', 'BULK_EXPORT')),
    severity text NOT NULL CHECK (severity IN ('LOW', 'MEDIUM', 'HIGH', 'CRITICAL')),
    subject_user_id uuid,
    subject_ip inet,
    -- What de-duplicates: the user when there is one, else the address.
    subject_key text GENERATED ALWAYS AS (
        CASE WHEN subject_user_id IS NOT NULL THEN 'user:' || subject_user_id::text
             ELSE 'ip:' || pg_catalog.host(subject_ip) END) STORED,
    first_seen timestamptz NOT NULL,
    last_seen timestamptz NOT NULL,
    event_count bigint NOT NULL CHECK (event_count > 0),
    -- Sequence ranges, counts and ids only: never PHI.
    evidence jsonb NOT NULL CHECK (pg_catalog.jsonb_typeof(evidence) = 'object'),
    affected_patient_count integer NOT NULL DEFAULT 0 CHECK (affected_patient_count >= 0),
    status text NOT NULL DEFAULT 'OPEN' CHECK (status IN ('OPEN', 'INVESTIGATING', 'CONTAINED',
        'CLOSED_FALSE_POSITIVE', 'CLOSED_NOT_A_BREACH', 'CONFIRMED_BREACH', 'NOTIFIED', 'CLOSED')),
    assignee_id uuid,
    discovered_at timestamptz NOT NULL,
    -- §164.404: discovery + 60 days (1,440 hours: an instant, not a calendar date).
    notification_deadline timestamptz NOT NULL,
    risk_assessment jsonb CHECK (risk_assessment IS NULL OR pg_catalog.jsonb_typeof(risk_assessment) = 'object'),
    determination text CHECK (determination IN ('BREACH', 'NOT_A_BREACH', 'LOW_PROBABILITY_OF_COMPROMISE')),
    version integer NOT NULL DEFAULT 1 CHECK (version > 0),
    updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (organization_id, id),
    CONSTRAINT security_incidents_subject CHECK (subject_user_id IS NOT NULL OR subject_ip IS NOT NULL),
    CONSTRAINT security_incidents_seen CHECK (last_seen >= first_seen),
    CONSTRAINT security_incidents_deadline CHECK (notification_deadline = discovered_at + interval '1440 hours')
);
-- One open incident per rule and subject.
CREATE UNIQUE INDEX security_incidents_one_open ON security_incidents (organization_id, rule_kind, subject_key)
    WHERE status IN ('OPEN', 'INVESTIGATING', 'CONTAINED');
CREATE INDEX security_incidents_discovered ON security_incidents (organization_id, discovered_at DESC, id);
-- The cross-tenant look-up below finds an incident by id alone.
CREATE INDEX security_incidents_id ON security_incidents (id);

-- Each incident's history: detection, updates, transitions, assessments, containment.
CREATE TABLE security_incident_events (
    organization_id uuid NOT NULL,
    incident_id uuid NOT NULL,
    id uuid NOT NULL,
    at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    kind text NOT NULL CHECK (kind IN ('DETECTED', 'UPDATED', 'TRANSITION', 'RISK_ASSESSMENT',
        'CONTAINMENT', 'AUTO_ACTION')),
    actor_user_id uuid,
    from_status text,
    to_status text,
    details jsonb NOT NULL DEFAULT '{}' CHECK (pg_catalog.jsonb_typeof(details) = 'object'),
    PRIMARY KEY (organization_id, incident_id, id),
    FOREIGN KEY (organization_id, incident_id) REFERENCES security_incidents (organization_id, id)
);
CREATE TRIGGER security_incident_events_append_only BEFORE UPDATE OR DELETE ON security_incident_events
    FOR EACH ROW EXECUTE FUNCTION haven_audit.refuse_change();
CREATE TRIGGER security_incident_events_no_truncate BEFORE TRUNCATE ON security_incident_events
    FOR EACH STATEMENT EXECUTE FUNCTION haven_audit.refuse_change();

-- The login-failure windows of FAILED_LOGIN_BURST look back by address.
CREATE INDEX audit_log_org_login_failures ON audit_log (organization_id, ip, occurred_at)
    WHERE action = 'LOGIN_FAILURE';

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['detection_rules', 'breach_detector_cursors', 'security_incidents',
                             'security_incident_events'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON %I USING (organization_id = current_organization_id()) '
                       'WITH CHECK (organization_id = current_organization_id())', t || '_tenant', t);
        EXECUTE format('CREATE POLICY %I ON %I TO CURRENT_USER USING (true) WITH CHECK (true)', t || '_owner', t);
    END LOOP;
END
$$;
GRANT SELECT, INSERT, UPDATE ON detection_rules, breach_detector_cursors, security_incidents TO haven_app;
GRANT SELECT, INSERT ON security_incident_events TO haven_app;

-- The organizations whose sealed chain is ahead of the detector's cursor, most behind first:
-- the one cross-tenant read of the detector, which then works per organization in a tenant
-- transaction. Returns ids and sequence numbers only.
CREATE FUNCTION haven_auth.breach_detector_backlog(p_limit integer)
    RETURNS TABLE (organization_id uuid, last_sequence bigint, head_sequence bigint)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT h.organization_id, coalesce(c.last_sequence, 0), h.last_sequence
        FROM public.audit_chain_heads h
        LEFT JOIN public.breach_detector_cursors c ON c.organization_id = h.organization_id
        WHERE h.last_sequence > coalesce(c.last_sequence, 0)
        ORDER BY h.last_sequence - coalesce(c.last_sequence, 0) DESC
        LIMIT p_limit
    $$;
REVOKE ALL ON FUNCTION haven_auth.breach_detector_backlog(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION haven_auth.breach_detector_backlog(integer) TO haven_app;

-- The oldest sealed-but-unread event across every organization: the detector's lag.
CREATE FUNCTION haven_auth.breach_detector_oldest_unread()
    RETURNS timestamptz
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT min(l.sealed_at)
        FROM public.audit_chain_heads h
        LEFT JOIN public.breach_detector_cursors c ON c.organization_id = h.organization_id
        JOIN LATERAL (
            SELECT a.sealed_at FROM public.audit_log a
            WHERE a.organization_id = h.organization_id
              AND a.sequence = coalesce(c.last_sequence, 0) + 1
            LIMIT 1) l ON true
        WHERE h.last_sequence > coalesce(c.last_sequence, 0)
    $$;
REVOKE ALL ON FUNCTION haven_auth.breach_detector_oldest_unread() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION haven_auth.breach_detector_oldest_unread() TO haven_app;

-- Which organization holds an incident: a request for another tenant's incident is told apart
-- from a request for nothing, so it is audited as cross-tenant.
CREATE FUNCTION haven_auth.security_incident_organization(p_incident_id uuid)
    RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT i.organization_id FROM public.security_incidents i WHERE i.id = p_incident_id $$;
REVOKE ALL ON FUNCTION haven_auth.security_incident_organization(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION haven_auth.security_incident_organization(uuid) TO haven_app;

-- Containment (REVOKE_SESSIONS) revokes a user's refresh families for a security incident.
ALTER TABLE refresh_families DROP CONSTRAINT refresh_families_revoked_reason_check;
ALTER TABLE refresh_families ADD CONSTRAINT refresh_families_revoked_reason_check
    CHECK (revoked_reason IN ('logout', 'reuse', 'password_change', 'disabled', 'idle_timeout',
                              'max_lifetime', 'dpop_key_mismatch', 'security_incident'));
