# The web UI in English. Keys are the same in ar.ftl (a test checks it).
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
