-- Sign-in attempts, for throttling per account and per client address. Kept in the database so
-- every server process counts the same attempts. A row is written before the password is checked
-- (so concurrent guesses count), stays as a failure, and loses its account when a sign-in of that
-- account succeeds (which clears the account's counter, not the address's). Rows older than the
-- window are deleted as new attempts come in. Not org data: no org, no RLS.
CREATE TABLE sign_in_attempts (
    attempt_id   bigserial PRIMARY KEY,
    account      text,
    address      text,
    attempted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sign_in_attempts_by_account ON sign_in_attempts (account, attempted_at);
CREATE INDEX sign_in_attempts_by_address ON sign_in_attempts (address, attempted_at);
CREATE INDEX sign_in_attempts_by_time ON sign_in_attempts (attempted_at);

-- OAuth2 connect flows under way: the `state` sent to the provider carries a random nonce whose
-- SHA-256 is the key here, with who started the flow (`bound_to`: the browser session's hash,
-- `token:<id>` for the API, `cli`). The callback consumes the row (single use) and only for the
-- same binding.
CREATE TABLE oauth_states (
    nonce_hash text PRIMARY KEY,
    org_id     uuid NOT NULL,
    bound_to   text NOT NULL,
    expires_at timestamptz NOT NULL
);
ALTER TABLE oauth_states ENABLE ROW LEVEL SECURITY;
ALTER TABLE oauth_states FORCE ROW LEVEL SECURITY;
CREATE POLICY org_isolation ON oauth_states
    USING (org_id = nullif(current_setting('app.current_org_id', true), '')::uuid)
    WITH CHECK (org_id = nullif(current_setting('app.current_org_id', true), '')::uuid);
