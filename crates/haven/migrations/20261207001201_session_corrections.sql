-- Corrections of a completed session's units (SPEC §6 "Charges": a charge's units are the
-- session's units in the ledger, and later adjustments re-derive them; issue 18).
--
-- An ADJUST row may now name a session: `POST /api/authorizations/{id}/adjust` with `sessionId`
-- corrects what that COMPLETED session consumed, and the same transaction re-derives the
-- session's charge from the ledger (src/store/charges.rs, `rederive_for_session`). An ADJUST row
-- without a session stays what it was: a correction of the authorization alone. The database
-- guarantees the rest:
--
-- * every other kind still names its session;
-- * the session is one of the row's authorization (a composite foreign key, for every kind);
-- * a correction names a COMPLETED session and never takes that session's net units in the
--   ledger below 0 (a trigger, which locks the session so corrections of one session queue).

ALTER TABLE unit_ledger DROP CONSTRAINT unit_ledger_session;
ALTER TABLE unit_ledger ADD CONSTRAINT unit_ledger_session
    CHECK (kind = 'ADJUST' OR session_id IS NOT NULL);

ALTER TABLE therapy_sessions ADD CONSTRAINT therapy_sessions_authorization_key
    UNIQUE (organization_id, id, authorization_id);
ALTER TABLE unit_ledger ADD CONSTRAINT unit_ledger_session_authorization
    FOREIGN KEY (organization_id, session_id, authorization_id)
    REFERENCES therapy_sessions (organization_id, id, authorization_id);

-- A session's net units (the charge's units, its corrections' bound): summed per session.
CREATE INDEX unit_ledger_session_units ON unit_ledger (organization_id, session_id)
    WHERE session_id IS NOT NULL;

CREATE FUNCTION haven_units.check_session_correction() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
    DECLARE
        v_status text;
        v_units bigint;
    BEGIN
        SELECT s.status INTO v_status FROM public.therapy_sessions s
        WHERE s.organization_id = NEW.organization_id AND s.id = NEW.session_id
        FOR UPDATE;
        IF v_status IS DISTINCT FROM 'COMPLETED' THEN
            RAISE EXCEPTION 'a session correction needs a completed session'
                USING ERRCODE = 'check_violation', CONSTRAINT = 'unit_ledger_correction_completed';
        END IF;
        SELECT coalesce(sum(l.units), 0) INTO v_units FROM public.unit_ledger l
        WHERE l.organization_id = NEW.organization_id AND l.session_id = NEW.session_id;
        IF v_units + NEW.units < 0 THEN
            RAISE EXCEPTION 'a session correction cannot take its units below 0'
                USING ERRCODE = 'check_violation', CONSTRAINT = 'unit_ledger_correction_nonnegative';
        END IF;
        RETURN NEW;
    END
    $$;
CREATE TRIGGER unit_ledger_session_correction BEFORE INSERT ON unit_ledger
    FOR EACH ROW WHEN (NEW.kind = 'ADJUST' AND NEW.session_id IS NOT NULL)
    EXECUTE FUNCTION haven_units.check_session_correction();
