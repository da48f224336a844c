-- Storage destinations (issue 7). A connection whose provider refuses its tokens (the user revoked
-- the app, the refresh token expired) is marked `expired` and the org is notified with the new
-- event storage_connection_expired: on by default, and added to the orgs' existing settings, since
-- backups to that connection fail until it is reconnected.
ALTER TABLE backup_settings ALTER COLUMN notify_events
    SET DEFAULT '{backup_completed,backup_failed,restore_started,restore_completed,restore_failed,restore_rolled_back,backup_expiring,storage_quota_warning,storage_connection_expired}';

-- Every org's row (the table has forced row-level security).
SELECT set_config('app.bypass_org_rls', 'on', true);
UPDATE backup_settings
   SET notify_events = array_append(notify_events, 'storage_connection_expired')
 WHERE NOT ('storage_connection_expired' = ANY (notify_events));
