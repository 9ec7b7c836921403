-- The slot finder (store/slots.rs) reads each searched clinician's busy time. Its appointments
-- come from the B-tree on (organization_id, clinician_id, start_at), bounded by the search's
-- time. Blocks may be of any length, so their start cannot bound them from below; they came
-- from the clinician exclusion constraint's GiST index, whose only usable condition under
-- row-level security is the clinician (the range overlap `&&` is not leakproof), which read
-- every active entry of the clinician: 4,320 heap pages per clinician and search on a calendar
-- of 300,000 appointments. Active blocks are few; this index holds only them.
CREATE INDEX calendar_entries_active_blocks ON calendar_entries
    (organization_id, clinician_id, start_at)
    WHERE kind = 'BLOCK' AND status = 'ACTIVE';

-- Appointments are read through the B-tree on (organization_id, clinician_id, start_at); with
-- the columns the search reads beside the key it is an index-only scan on a vacuumed table
-- instead of one heap page per appointment (every clinician's appointments are spread over the
-- table). Same key, same name: the statements that use it are unchanged.
DROP INDEX calendar_entries_clinician_start;
CREATE INDEX calendar_entries_clinician_start ON calendar_entries
    (organization_id, clinician_id, start_at)
    INCLUDE (kind, status, hold_expires_at, busy);
