-- The service's own tables. They live in the configured application schema: the migration runner
-- sets search_path to it, so names here are unqualified.
--
-- Row-level security: every table with an org_id only shows rows of the org named by the
-- transaction's `app.current_org_id` setting. Work that spans orgs (the scheduler claiming jobs,
-- retention) sets `app.bypass_org_rls = 'on'` explicitly. Superusers bypass RLS in PostgreSQL
-- anyway; production deployments connect as an ordinary role (see docs/SECURITY.md).

CREATE TABLE org_plans (
    org_id      uuid PRIMARY KEY,
    plan        text NOT NULL DEFAULT 'free' CHECK (plan IN ('free', 'basic', 'pro', 'enterprise')),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    user_id        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email          text NOT NULL UNIQUE,
    display_name   text NOT NULL DEFAULT '',
    password_hash  text,
    is_super_admin boolean NOT NULL DEFAULT false,
    locale         text NOT NULL DEFAULT 'en',
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE memberships (
    org_id     uuid NOT NULL,
    user_id    uuid NOT NULL REFERENCES users ON DELETE CASCADE,
    role       text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin', 'owner')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, user_id)
);

CREATE TABLE api_tokens (
    token_id     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id       uuid NOT NULL,
    user_id      uuid REFERENCES users ON DELETE CASCADE,
    name         text NOT NULL,
    token_hash   text NOT NULL UNIQUE,
    permissions  text[] NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    expires_at   timestamptz,
    revoked_at   timestamptz
);

CREATE TABLE storage_connections (
    connection_id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id                uuid NOT NULL,
    provider              text NOT NULL CHECK (provider IN ('local', 's3', 'google_drive', 'onedrive', 'dropbox')),
    name                  text NOT NULL,
    settings              jsonb NOT NULL DEFAULT '{}',
    encrypted_credentials bytea,
    status                text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'expired', 'revoked', 'error')),
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, name)
);

CREATE TABLE backup_encryption_keys (
    key_id      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id      uuid NOT NULL,
    name        text NOT NULL,
    version     integer NOT NULL,
    -- The org's key, wrapped (AES-256-GCM) by the master key from configuration.
    wrapped_key bytea NOT NULL,
    fingerprint text NOT NULL,
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retired', 'revoked')),
    created_by  uuid,
    created_at  timestamptz NOT NULL DEFAULT now(),
    retired_at  timestamptz,
    revoked_at  timestamptz,
    UNIQUE (org_id, version)
);
CREATE UNIQUE INDEX backup_encryption_keys_one_active ON backup_encryption_keys (org_id) WHERE status = 'active';

CREATE TABLE backup_schedules (
    schedule_id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id                uuid NOT NULL,
    name                  text NOT NULL,
    frequency             text NOT NULL CHECK (frequency IN ('hourly', 'daily', 'weekly', 'monthly', 'custom')),
    cron_expression       text,
    time_of_day           time,
    day_of_week           smallint CHECK (day_of_week BETWEEN 0 AND 6),
    day_of_month          smallint CHECK (day_of_month BETWEEN 1 AND 31),
    timezone              text NOT NULL DEFAULT 'UTC',
    categories            text[] NOT NULL DEFAULT '{}',
    storage_connection_id uuid REFERENCES storage_connections ON DELETE SET NULL,
    encrypt               boolean NOT NULL DEFAULT false,
    is_active             boolean NOT NULL DEFAULT true,
    last_run_at           timestamptz,
    next_run_at           timestamptz,
    created_by            uuid,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, name)
);
CREATE INDEX backup_schedules_due ON backup_schedules (next_run_at) WHERE is_active;

CREATE TABLE organization_backups (
    backup_id             uuid PRIMARY KEY,
    org_id                uuid NOT NULL,
    name                  text NOT NULL,
    backup_type           text NOT NULL CHECK (backup_type IN ('manual', 'scheduled', 'uploaded')),
    status                text NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'failed', 'expired', 'deleted')),
    whole                 boolean NOT NULL DEFAULT true,
    categories            text[] NOT NULL DEFAULT '{}',
    storage_disk          text NOT NULL DEFAULT 'local',
    storage_connection_id uuid REFERENCES storage_connections ON DELETE SET NULL,
    storage_path          text,
    file_size             bigint,
    checksum_sha256       text,
    is_encrypted          boolean NOT NULL DEFAULT false,
    encryption_key_id     text,
    row_counts            jsonb NOT NULL DEFAULT '{}',
    total_rows            bigint,
    table_count           integer,
    file_count            integer,
    progress              jsonb,
    error_message         text,
    schedule_id           uuid REFERENCES backup_schedules ON DELETE SET NULL,
    created_by            uuid,
    pinned                boolean NOT NULL DEFAULT false,
    started_at            timestamptz,
    completed_at          timestamptz,
    expires_at            timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX organization_backups_by_org ON organization_backups (org_id, created_at DESC);

CREATE TABLE backup_restores (
    restore_id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id              uuid NOT NULL,
    backup_id           uuid REFERENCES organization_backups ON DELETE SET NULL,
    restore_type        text NOT NULL CHECK (restore_type IN ('full', 'selective', 'merge')),
    conflict_resolution text NOT NULL DEFAULT 'skip' CHECK (conflict_resolution IN ('skip', 'replace', 'merge', 'per_record')),
    selected_categories text[] NOT NULL DEFAULT '{}',
    status              text NOT NULL CHECK (status IN ('pending', 'analyzing', 'awaiting_confirmation', 'running', 'completed', 'failed', 'rolled_back')),
    analysis            jsonb,
    plan                jsonb,
    decisions           jsonb,
    result              jsonb,
    progress            jsonb,
    rollback_path       text,
    rollback_expires_at timestamptz,
    rolled_back_at      timestamptz,
    error_message       text,
    created_by          uuid,
    started_at          timestamptz,
    completed_at        timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX backup_restores_by_org ON backup_restores (org_id, created_at DESC);

CREATE TABLE backup_audit_logs (
    log_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id        uuid NOT NULL,
    actor_user_id uuid,
    actor_token_id uuid,
    actor_label   text NOT NULL,
    action        text NOT NULL,
    entity_type   text,
    entity_id     text,
    outcome       text NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
    ip_address    inet,
    user_agent    text,
    details       jsonb NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX backup_audit_logs_by_org ON backup_audit_logs (org_id, created_at DESC);

CREATE TABLE backup_settings (
    org_id                        uuid PRIMARY KEY,
    notify_events                 text[] NOT NULL DEFAULT '{backup_completed,backup_failed,restore_started,restore_completed,restore_failed,restore_rolled_back,backup_expiring,storage_quota_warning}',
    email_recipients              text[] NOT NULL DEFAULT '{}',
    webhook_url                   text,
    webhook_secret_encrypted      bytea,
    in_app                        boolean NOT NULL DEFAULT true,
    retention_days                integer CHECK (retention_days > 0),
    expiring_notice_days          integer NOT NULL DEFAULT 3,
    default_storage_connection_id uuid REFERENCES storage_connections ON DELETE SET NULL,
    default_encrypt               boolean NOT NULL DEFAULT false,
    updated_at                    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE notifications (
    notification_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id          uuid NOT NULL,
    user_id         uuid REFERENCES users ON DELETE CASCADE,
    event           text NOT NULL,
    data            jsonb NOT NULL DEFAULT '{}',
    read_at         timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notifications_by_org ON notifications (org_id, created_at DESC);

CREATE TABLE jobs (
    job_id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id           uuid NOT NULL,
    kind             text NOT NULL,
    payload          jsonb NOT NULL DEFAULT '{}',
    status           text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'dead')),
    attempts         integer NOT NULL DEFAULT 0,
    max_attempts     integer NOT NULL DEFAULT 5,
    run_after        timestamptz NOT NULL DEFAULT now(),
    locked_by        text,
    lease_expires_at timestamptz,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX jobs_runnable ON jobs (run_after) WHERE status IN ('queued', 'running');

-- One policy shape for every org-owned table.
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['org_plans', 'memberships', 'api_tokens', 'storage_connections',
        'backup_encryption_keys', 'backup_schedules', 'organization_backups', 'backup_restores',
        'backup_audit_logs', 'backup_settings', 'notifications', 'jobs']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY org_isolation ON %I
            USING (org_id = nullif(current_setting('app.current_org_id', true), '')::uuid
                   OR current_setting('app.bypass_org_rls', true) = 'on')
            WITH CHECK (org_id = nullif(current_setting('app.current_org_id', true), '')::uuid
                   OR current_setting('app.bypass_org_rls', true) = 'on')$p$, t);
    END LOOP;
END $$;
