# The human `message` of every API problem (the web's error page shows them too), in English.
# The id of code `not_found` is `problem-not-found`; `problem-other` is for a code without one.
# The ids are the same in ar/problems.ftl (a test checks it, and that every code has one).

problem-unauthorized = Sign-in required: send a valid API token.
problem-forbidden = You do not have permission to do this.
problem-not-found = Not found.
problem-conflict = This cannot be done in the current state.
problem-too-large = The file or request is too large.
problem-internal = Something went wrong on our side. Please try again later.
problem-invalid-body = The request body is not valid JSON of the expected shape.
problem-invalid-query = The query string is not valid: check the parameters and their values.
problem-invalid-path = The address is not valid: an identifier in it has the wrong form.
problem-nul-byte = A text field contains a NUL character, which is not allowed.
problem-string-too-long = A text field is longer than allowed.
problem-invalid-name = The name is not valid: give 1 to 200 characters, without control characters.
problem-too-many-sign-in-attempts = Too many failed sign-ins. Wait a few minutes, then try again.
problem-plan-backup-limit = Your plan's monthly backup limit is reached.
problem-plan-storage-full = Your plan's backup storage is full.
problem-unknown-category = One of the chosen categories does not exist.
problem-encryption-unavailable = Encrypted backups are not available on this service.
problem-invalid-idempotency-key = The Idempotency-Key header is not valid.
problem-idempotency-key-reused = This Idempotency-Key was already used for a different request.
problem-upload-interrupted = The upload was interrupted. Please upload the file again.
problem-checksum-mismatch = The file was damaged on the way: its checksum does not match. Please upload it again.
problem-invalid-backup = The file is not a valid backup, or it is damaged.
problem-decompression-bomb = The file would unpack to far more data than a backup of its size can hold; it was refused.
problem-manifest-too-large = The file's table of contents is larger than an upload may have; it was refused.
problem-foreign-backup = This backup belongs to another organization.
problem-invalid-notification-settings = The notification settings are not valid: check the events, email addresses and webhook URL.
problem-webhook-unavailable = Webhooks are not available on this service: it has no master key to protect their secrets.
problem-plan-feature-unavailable = Your plan does not include this feature.
problem-confirmation-required = This cannot be undone: confirm it as the message explains.
problem-retention-longer-than-plan = Backups cannot be kept longer than your plan allows.
problem-invalid-retention = The retention period is not valid.
problem-invalid-schedule = The schedule is not valid: check its frequency, time, day, time zone or cron expression.
problem-plan-schedule-unavailable = Your plan does not include schedules of this frequency.
problem-storage-unavailable = The storage destination cannot be used right now (unreachable, full, refusing access, or its connection expired).
problem-unknown-destination = This storage destination does not exist for your organization.
problem-invalid-storage-settings = The storage settings are not valid: check the bucket, region, endpoint and keys.
problem-storage-connections-unavailable = Storage connections are not available on this service: it has no master key to protect their credentials.
problem-other = The request cannot be accepted as it is.
