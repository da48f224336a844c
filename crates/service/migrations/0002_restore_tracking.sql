-- What a rollback needs besides the archive: the restore's transaction (to count later changes)
-- and where the restored data came from.
ALTER TABLE backup_restores
    ADD COLUMN transaction_xid text,
    ADD COLUMN source_path     text,
    ADD COLUMN source_org_id   uuid;
