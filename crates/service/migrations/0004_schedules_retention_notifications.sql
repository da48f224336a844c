-- Schedules run by any number of scheduler instances, retention, notifications delivered with retries.

-- What the last run of a schedule did (shown next to its next runs).
ALTER TABLE backup_schedules
    ADD COLUMN last_backup_id uuid,
    ADD COLUMN last_error     text;

-- Retention: the expiring notice is sent once per backup.
ALTER TABLE organization_backups
    ADD COLUMN expiry_notice_sent_at timestamptz,
    ADD COLUMN expired_at            timestamptz;

-- Notification settings: the language of emails and webhook texts, and which storage quota warning
-- (80 or 95 percent) was last sent, so each is sent once until usage falls below it again.
ALTER TABLE backup_settings
    ADD COLUMN locale              text NOT NULL DEFAULT 'en' CHECK (locale IN ('en', 'ar')),
    ADD COLUMN quota_warning_level smallint NOT NULL DEFAULT 0;

-- Email and webhook deliveries, one row per recipient, retried with backoff by the dispatcher.
CREATE TABLE notification_deliveries (
    delivery_id     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id          uuid NOT NULL,
    event           text NOT NULL,
    channel         text NOT NULL CHECK (channel IN ('email', 'webhook')),
    target          text NOT NULL,
    locale          text NOT NULL DEFAULT 'en',
    payload         jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    max_attempts    integer NOT NULL DEFAULT 6,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    delivered_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notification_deliveries_due ON notification_deliveries (next_attempt_at) WHERE status = 'pending';
ALTER TABLE notification_deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE notification_deliveries FORCE ROW LEVEL SECURITY;
CREATE POLICY org_isolation ON notification_deliveries
    USING (org_id = nullif(current_setting('app.current_org_id', true), '')::uuid
           OR current_setting('app.bypass_org_rls', true) = 'on')
    WITH CHECK (org_id = nullif(current_setting('app.current_org_id', true), '')::uuid
           OR current_setting('app.bypass_org_rls', true) = 'on');
