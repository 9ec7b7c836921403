-- Per-organization keys for PHI at rest (see src/phi): a data key (AES-256-GCM, encrypts each
-- PHI field; rotates) and a blind-index key (HMAC-SHA256 of normalized MRN and last name; never
-- rotates, or every index would have to be recomputed at once).
--
-- Keys are 32 random bytes, stored only wrapped: sealed with AES-256-GCM under a key derived
-- from the master key, with associated data `organization_keys:<org>:<id>:<purpose>`, so a
-- wrapped key copied to another organization, id or purpose does not open.

CREATE TABLE organization_keys (
    organization_id uuid NOT NULL REFERENCES organizations (id),
    id uuid NOT NULL,
    purpose text NOT NULL CHECK (purpose IN ('data', 'blind')),
    wrapped_key bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    -- When it stopped encrypting. A retired data key is kept for good: ciphertexts written by a
    -- slow writer during a rotation may still name it.
    retired_at timestamptz,
    PRIMARY KEY (organization_id, id)
);
-- At most one active key per purpose. Creation on first use races on this index
-- (INSERT .. ON CONFLICT DO NOTHING), so two first requests of an organization agree on one key.
CREATE UNIQUE INDEX organization_keys_single_active
    ON organization_keys (organization_id, purpose) WHERE retired_at IS NULL;

ALTER TABLE organization_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE organization_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY organization_keys_tenant ON organization_keys
    USING (organization_id = current_organization_id())
    WITH CHECK (organization_id = current_organization_id());
CREATE POLICY organization_keys_owner ON organization_keys TO CURRENT_USER USING (true) WITH CHECK (true);
-- No DELETE: a key that some ciphertext names must never disappear.
GRANT SELECT, INSERT, UPDATE ON organization_keys TO haven_app;
