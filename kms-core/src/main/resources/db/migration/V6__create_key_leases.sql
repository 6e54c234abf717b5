-- A CreateKey in flight holds a lease on its Creating record: the node that runs it, that node's run
-- (one per process start) and when the lease ends, by the database's clock. The crash rollback takes
-- only records whose lease has ended or was revoked (all three NULL, as on rows written before leases
-- existed), so it never races a live CreateKey on this node or on another.
ALTER TABLE kms_keys ADD COLUMN lease_node VARCHAR(128);
ALTER TABLE kms_keys ADD COLUMN lease_run VARCHAR(36);
ALTER TABLE kms_keys ADD COLUMN lease_expires_at TIMESTAMP WITH TIME ZONE;

-- key_material_deletions.status is now also PENDING: a deletion is claimed (the key's record removed
-- and one PENDING row per HSM written, in one transaction) before any material is destroyed.
