-- Browser sessions of the web UI. The cookie holds a random secret; only its SHA-256 is stored.
-- A session belongs to a user and points at the org the user is working in (the org switcher
-- changes it); its CSRF token is checked on every form post.
CREATE TABLE web_sessions (
    session_hash text PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users ON DELETE CASCADE,
    org_id       uuid NOT NULL,
    csrf_token   text NOT NULL,
    locale       text NOT NULL DEFAULT 'en' CHECK (locale IN ('en', 'ar')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX web_sessions_by_user ON web_sessions (user_id);
ALTER TABLE web_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE web_sessions FORCE ROW LEVEL SECURITY;
-- Looked up by hash before any org is known (like API tokens): with the bypass only.
CREATE POLICY org_isolation ON web_sessions
    USING (org_id = nullif(current_setting('app.current_org_id', true), '')::uuid
           OR current_setting('app.bypass_org_rls', true) = 'on')
    WITH CHECK (org_id = nullif(current_setting('app.current_org_id', true), '')::uuid
           OR current_setting('app.bypass_org_rls', true) = 'on');
