# Notifications in English: the subject and body of emails, the webhook's `message` and the in-app
# inbox. Each event has `notification-<event>-subject` (its title) and `-lead` (the body's first
# sentence), `<event>` being its name with hyphens (`backup_completed` -> `backup-completed`).
# The ids are the same in ar/notifications.ftl (a test checks it).

notification-backup-completed-subject = Backup completed
notification-backup-completed-lead = The backup finished successfully and is ready to download or restore.

notification-backup-failed-subject = Backup failed
notification-backup-failed-lead = The backup could not be completed; no partial file was kept.

notification-restore-started-subject = Restore started
notification-restore-started-lead = A restore of your organization's data has started.

notification-restore-completed-subject = Restore completed
notification-restore-completed-lead = The restore finished successfully. It can be rolled back for a limited time.

notification-restore-failed-subject = Restore failed
notification-restore-failed-lead = The restore failed and no data was changed.

notification-restore-rolled-back-subject = Restore rolled back
notification-restore-rolled-back-lead = The restore was rolled back: the data is as it was before the restore.

notification-backup-expiring-subject = Backup expiring soon
notification-backup-expiring-lead = This backup will be deleted by the retention policy unless it is pinned.

notification-storage-quota-warning-subject = Storage quota warning
notification-storage-quota-warning-lead = Your backups use a large share of your plan's storage. Delete old backups or upgrade the plan.

notification-storage-connection-expired-subject = Storage connection needs reconnecting
notification-storage-connection-expired-lead = The storage provider no longer accepts this connection (access revoked or expired). Backups to it fail until you connect it again.

## The subject: the event's title with what its data adds, innermost first.

notification-subject-detail = { $subject } ({ $detail })
notification-subject-org = { $org }: { $subject }
notification-subject-test = [Test] { $subject }

## The body's lines, one per piece of the event's data; a line whose data is missing is left out.

notification-line-organization = Organization: { $value }
notification-line-backup = Backup: { $value }
notification-line-backup-id = Backup id: { $value }
notification-line-restore-id = Restore id: { $value }
notification-line-size = Size: { $value }
notification-line-rows = Rows: { $value }
notification-line-expires = Expires: { $value }
notification-line-storage-used = Storage used: { $value }
notification-line-error = Error: { $value }
notification-used-of-quota = { $used } of { $quota }
notification-used-percent = { $used } ({ $percent })
notification-percent = { $n }%
notification-signature = Sent by orgbackup.

## Sizes in decimal units, as plan quotas are stated (500 MB = 500,000,000 bytes).

notification-bytes-b = { $n } B
notification-bytes-kb = { $n } KB
notification-bytes-mb = { $n } MB
notification-bytes-gb = { $n } GB
notification-bytes-tb = { $n } TB
