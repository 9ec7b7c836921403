-- Unsealed audit events are as protected as sealed ones (issue 14, item 7).
--
-- Until now audit_outbox refused only UPDATE: the owner role could DELETE or TRUNCATE an event
-- before the sealer chained it, and verification, which only sees the chain, could not notice.
-- The sealer itself must keep removing rows (haven_audit.append moves a batch into audit_log and
-- deletes it from the outbox in one transaction), so DELETE cannot simply be refused.
--
-- The rule: an outbox row may be deleted only once an identical event (same organization, id
-- and content) is in audit_log. Deleting it then loses nothing. The check is on the data, not
-- on who asks: a session setting or a role could be forged by whoever holds the owner role, but
-- a sealed copy cannot be made to appear without putting the event into the hash chain, where a
-- wrongly numbered or hashed row is exactly what verification detects. TRUNCATE, which cannot
-- be checked row by row, is refused outright, for every role.
--
-- The check runs once per DELETE statement over its transition table, so the sealer's batches
-- of 5,000 pay one anti-join (index probes on audit_log_org_time), not 5,000 trigger calls. It is
-- planned per statement (EXECUTE) so the plan always fits the batch and the log's current size.

CREATE FUNCTION haven_audit.refuse_unsealed_removal() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    DECLARE
        unsealed bigint;
    BEGIN
        EXECUTE
            'SELECT pg_catalog.count(*) FROM removed r
             WHERE NOT EXISTS (
                 SELECT 1 FROM public.audit_log l
                 WHERE l.organization_id = r.organization_id
                   AND l.occurred_at = r.occurred_at
                   AND l.id = r.id
                   AND (l.user_id, l.role, l.action, l.entity_type, l.entity_id, l.patient_id,
                        l.access_method, l.outcome, l.ip, l.user_agent, l.request_id, l.details)
                       IS NOT DISTINCT FROM
                       (r.user_id, r.role, r.action, r.entity_type, r.entity_id, r.patient_id,
                        r.access_method, r.outcome, r.ip, r.user_agent, r.request_id, r.details))'
            INTO unsealed;
        IF unsealed > 0 THEN
            RAISE EXCEPTION 'audit events are removed from the outbox only once sealed: DELETE of % unsealed event(s) refused', unsealed
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN NULL;
    END
    $$;
REVOKE ALL ON FUNCTION haven_audit.refuse_unsealed_removal() FROM PUBLIC;

CREATE TRIGGER audit_outbox_only_sealed_removed AFTER DELETE ON audit_outbox
    REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION haven_audit.refuse_unsealed_removal();
CREATE TRIGGER audit_outbox_no_truncate BEFORE TRUNCATE ON audit_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION haven_audit.refuse_change();
