# The web pages in English. Their ids are the same in ar/pages.ftl (a test checks it).
app-name = Org Backup
skip-to-content = Skip to content
nav-label = Main
nav-dashboard = Dashboard
nav-backups = Backups
nav-audit = Audit log
org-switch-label = Organization
org-switch-submit = Switch
org-current = Organization:
sign-out = Sign out

login-title = Sign in
login-failed = The email or the password is not right.
login-email = Email
login-password = Password
login-submit = Sign in

error-title = Something is not right
error-back = Back to the dashboard
error-csrf = This form is out of date. Go back, reload the page and try again.
error-no-organization = Your account is not a member of any organization yet. Ask an owner to add you.

col-name = Name
col-status = Status
col-size = Size
col-rows = Rows
col-created = Created
col-table = Table

status-pending = Waiting
status-running = Running
status-completed = Completed
status-failed = Failed
status-expired = Expired
status-deleted = Deleted
type-manual = Manual
type-scheduled = Scheduled
type-uploaded = Uploaded
plan-free = Free
plan-basic = Basic
plan-pro = Pro
plan-enterprise = Enterprise
plan-name = Plan: { $plan }

month-1 = Jan
month-2 = Feb
month-3 = Mar
month-4 = Apr
month-5 = May
month-6 = Jun
month-7 = Jul
month-8 = Aug
month-9 = Sep
month-10 = Oct
month-11 = Nov
month-12 = Dec

bytes-b = { $n } B
bytes-kb = { $n } kB
bytes-mb = { $n } MB
bytes-gb = { $n } GB
bytes-tb = { $n } TB

dashboard-title = Dashboard
storage-title = Backup storage
storage-used = Used
next-run-title = Next scheduled backup
no-schedule = No backup is scheduled.
failures-title = Recent failures
no-failures = No backup failed in the last 30 days.
recent-title = Recent backups
no-backups = No backups yet.
new-backup = New backup
all-backups = All backups

backups-title = Backups
backups-count = { $count ->
    [0] No backups
    [one] { $n } backup
   *[other] { $n } backups
}
create-title = New backup
create-name = Name (optional)
create-categories = Categories
create-categories-hint = Leave every box empty to back up the whole organization. Tables other categories depend on are included.
tables-count = { $count ->
    [one] { $n } table
   *[other] { $n } tables
}
rows-estimate = { $count ->
    [one] about { $n } row
   *[other] about { $n } rows
}
rows-count = { $count ->
    [one] { $n } row
   *[other] { $n } rows
}
create-encrypt = Encrypt (AES-256-GCM)
encryption-unavailable = Encryption needs a master key, which this service has not been given.
create-submit = Start backup

progress-title = Progress
progress-waiting = Waiting for a worker…
progress-table = Table
field-status = Status
field-type = Type
field-created = Created
field-completed = Completed
field-scope = Contents
scope-whole = The whole organization
field-size = Size
field-rows = Rows
field-encrypted = Encrypted
yes = Yes
no = No
field-sha256 = SHA-256
field-error = Error
download = Download
tables-title = Tables

nav-restore = Restore
restore-title = Restore
restore-steps = Restore steps
step-choose = Choose a backup
step-analyze = Compatibility
step-plan = Plan and conflicts
step-confirm = Confirm
step-result = Restore
restore-choose-hint = Choose the backup to restore. Nothing changes until you confirm.
restore-choose = Restore this backup
col-category = Category
compat-compatible = Compatible with today's schema
compat-warnings = Compatible, with warnings
compat-incompatible = Not compatible
restore-options = What to restore
restore-categories-hint = Leave every box empty to restore every category of the backup.
restore-mode = Mode
mode-merge = Merge: add what is missing, resolve conflicts, delete nothing
mode-full = Full: make the organization's data exactly the backup's (deletes rows that are not in it)
restore-conflicts = When a row exists with other values
action-default = As chosen for all
action-skip = Keep the current row
action-replace = Replace it with the backup's row
action-merge = Merge: keep current values, fill empty ones from the backup
restore-show-plan = Show the plan
col-insert = Added
col-identical = Already identical
col-conflict = Conflicts
col-delete = Deleted
col-not-written = Not written
plan-blocked-title = This full restore cannot run
plan-blocked-hint = It would delete rows that rows it does not restore still reference: the database would delete or change those rows too, or refuse. Nothing has been changed. Restore the categories of the referencing tables as well, or choose a merge restore.
plan-blocked-rows = { $count ->
    [one] { $n } referencing row
   *[other] { $n } referencing rows
}
plan-skipped-triggers = Triggers not fired, so that the backup's values are written as they are:
bulk-hint = This choice applies to every conflict; change single rows below.
conflicts-count = { $count ->
    [one] { $n } conflict shown
   *[other] { $n } conflicts shown
}
col-column = Column
col-backup-value = In the backup
col-current-value = Now
decision = Decision for this row
restore-review = Review and confirm
summary-title = What will change
summary-insert = { $count ->
    [one] { $n } row added
   *[other] { $n } rows added
}
summary-replace = { $count ->
    [one] { $n } row replaced
   *[other] { $n } rows replaced
}
summary-merge = { $count ->
    [one] { $n } row merged
   *[other] { $n } rows merged
}
summary-skip = { $count ->
    [one] { $n } conflicting row kept as it is
   *[other] { $n } conflicting rows kept as they are
}
summary-delete = { $count ->
    [one] { $n } row deleted
   *[other] { $n } rows deleted
}
summary-rollback = The restore runs in one transaction: it applies completely or not at all. It can be rolled back for 24 hours.
full-warning-title = Full restore
full-warning = A full restore replaces the organization's data with the backup's. Rows that are not in the backup are deleted.
full-confirm-failed = The organization's name or the password is not right. Nothing was changed.
full-type-name = Type the organization's name ({ $name }) to confirm
full-password = Your password
restore-start = Start the restore
restore-status-pending = Waiting
restore-status-analyzing = Analyzing
restore-status-awaiting_confirmation = Waiting for confirmation
restore-status-running = Running
restore-status-completed = Completed
restore-status-failed = Failed
restore-status-rolled_back = Rolled back
rollback-until = You can roll this restore back until { $date }.
rollback = Roll back

audit-title = Audit log
audit-action = Action
audit-outcome = Outcome
audit-any = Any
audit-filter = Filter
audit-empty = Nothing recorded matches.
audit-when = When
audit-who = Who
audit-subject = Subject
audit-ip = IP address
audit-pages = Pages
outcome-success = Done
outcome-failure = Failed
outcome-denied = Denied
page-previous = Previous
page-next = Next
page-number = Page { $n }

nav-notifications = Notifications
notifications-title = Notifications
notifications-empty = No notifications yet.
unread-count = { $count ->
    [0] Nothing unread
    [one] { $n } unread
   *[other] { $n } unread
}
mark-read = Mark as read
event-backup_completed = Backup completed
event-backup_failed = Backup failed
event-restore_started = Restore started
event-restore_completed = Restore completed
event-restore_failed = Restore failed
event-restore_rolled_back = Restore rolled back
event-backup_expiring = Backup about to expire
event-storage_quota_warning = Backup storage almost full
event-storage_connection_expired = Storage connection needs reconnecting
notification-settings-title = Notification settings
settings-saved = Saved.
webhook-secret-once = The webhook's signing secret. Copy it now: it is not shown again.
settings-events = Notify me of
settings-channels = How
channel-in-app = In this app
channel-email = Email recipients (one per line)
channel-webhook = Webhook URL (signed with HMAC-SHA256)
webhook-new-secret = Generate a new signing secret
settings-language = Language of emails and webhooks
settings-notice-days = Days of notice before a backup expires
settings-save = Save
settings-read-only = Changing these settings needs the backup.schedule permission.

nav-keys = Encryption keys
keys-title = Encryption keys
keys-hint = Encrypted backups are sealed with the organization's active key. Rotating makes a new key active; older keys still open the backups they sealed.
keys-none = This organization has no key of its own: encrypted backups use the service's master key.
keys-plan = Keys of your own are part of the Enterprise plan.
key-version = Version
key-fingerprint = Fingerprint
key-backups = Backups sealed
key-status-active = Active
key-status-retired = Retired
key-status-revoked = Revoked (destroyed)
key-name = Name of the new key
key-create = Create a key
key-rotate = Rotate: make a new key active
key-revoke = Revoke and destroy
key-revoke-warning = { $count ->
    [one] { $n } backup sealed with this key will never open again. This cannot be undone.
   *[other] { $n } backups sealed with this key will never open again. This cannot be undone.
}
key-revoke-type = Type the key's fingerprint to confirm
key-revoke-unconfirmed = The fingerprint typed does not match: the key was not revoked.

upload-title = Or restore from a file
upload-hint = A backup file downloaded from this service. It is checked in full (every checksum, and that it is a backup of this organization) before anything else.
upload-sha256 = Its SHA-256 (optional, checked when given)
upload-file = Backup file
upload-submit = Upload and analyze

nav-schedules = Schedules
schedules-title = Scheduled backups
schedules-none = No backup is scheduled.
schedules-plan = Your plan has no scheduled backups. Basic plans back up daily; Pro and Enterprise plans on any schedule.
schedule-when = When
schedule-next = Next runs
schedule-last = Last run
schedule-actions = Actions
schedule-paused = Paused
schedule-pause = Pause
schedule-resume = Resume
schedule-delete = Delete
schedule-new = New schedule
schedule-frequency = How often
schedule-time = Time of day
schedule-weekday = Day of the week (weekly)
schedule-day-of-month = Day of the month (monthly; past the month's end means its last day)
schedule-zone = Time zone
schedule-cron = Cron expression (five fields)
schedule-add = Add the schedule
frequency-hourly = Every hour
frequency-daily = Every day
frequency-weekly = Every week
frequency-monthly = Every month
frequency-custom = Custom (cron)
every-hour = Every hour at minute { $minute }
every-day = at { $time }
day-of-month = On day { $n } of the month
weekday-0 = Sunday
weekday-1 = Monday
weekday-2 = Tuesday
weekday-3 = Wednesday
weekday-4 = Thursday
weekday-5 = Friday
weekday-6 = Saturday

create-destination = Where to keep it
destination-default = The organization's default
destination-local = This server's disk

nav-storage = Storage
destinations-title = Where backups are kept
storage-provider = Service
storage-default = Default
storage-make-default = Make default
storage-test = Test
storage-test-ok = { $name } works: a test file was written, read back and deleted.
storage-default-set = New backups now go to this destination by default.
storage-removed = The connection was removed.
storage-connected = { $name } is connected.
storage-connect-title = Connect an account
storage-folder = Folder
storage-connect = Connect (you will be asked to allow access)
storage-s3-title = Add an S3-compatible bucket
storage-bucket = Bucket
storage-region = Region
storage-endpoint = Endpoint (for S3-compatible services; empty for AWS)
storage-prefix = Key prefix (optional)
storage-access-key = Access key id
storage-secret-key = Secret access key
storage-test-first = Check that it works before saving
storage-add = Add the bucket
provider-local = This server's disk
provider-s3 = S3
provider-google_drive = Google Drive
provider-onedrive = OneDrive
provider-dropbox = Dropbox
connection-status-active = Connected
connection-status-expired = Needs reconnecting
connection-status-revoked = Revoked
connection-status-error = Error
restore-status-rolling_back = Rolling back
