-- At most one job runs per organization: a second worker trying to claim another job of the same
-- org hits this index and moves on.
CREATE UNIQUE INDEX jobs_one_running_per_org ON jobs (org_id) WHERE status = 'running';

-- Responses of mutating API calls by idempotency key, so a retried request returns the first answer.
CREATE TABLE idempotency_keys (
    org_id      uuid NOT NULL,
    key         text NOT NULL,
    request_hash text NOT NULL,
    status_code integer NOT NULL,
    response    jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, key)
);
ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY org_isolation ON idempotency_keys
    USING (org_id = nullif(current_setting('app.current_org_id', true), '')::uuid
           OR current_setting('app.bypass_org_rls', true) = 'on')
    WITH CHECK (org_id = nullif(current_setting('app.current_org_id', true), '')::uuid
           OR current_setting('app.bypass_org_rls', true) = 'on');
