-- The hosted login pages (sign-in and consent) accept each CSRF token of their forms once: the SHA-256 of a
-- token is recorded when a form is submitted with it, and kept until the token would have expired anyway
-- (the token itself carries its expiry under a MAC, see authsvc/login/csrf.c).
CREATE TABLE form_tokens (
    hash       bytea PRIMARY KEY CHECK (length(hash) = 32),
    expires_at timestamptz NOT NULL
);
CREATE INDEX form_tokens_expires_idx ON form_tokens (expires_at);
