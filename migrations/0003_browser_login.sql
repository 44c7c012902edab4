-- Browser login: clients with redirect URIs, SSO sessions, authorization codes, consents, and revoking a
-- user's sessions together with everything else.

-- Clients that log users in through a browser (authorization code + PKCE).
ALTER TABLE clients
    ADD COLUMN redirect_uris             text[] NOT NULL DEFAULT '{}',   -- matched exactly (RFC 9700 §2.1)
    ADD COLUMN post_logout_redirect_uris text[] NOT NULL DEFAULT '{}',   -- OIDC RP-Initiated Logout, exact
    ADD COLUMN display_name              text CHECK (length(display_name) BETWEEN 1 AND 200),
    ADD COLUMN consent                   boolean NOT NULL DEFAULT false, -- a third party: the user approves its scopes
    ADD COLUMN logout_revokes_refresh    boolean NOT NULL DEFAULT true,  -- logout also ends the refresh families of the session
    ADD CONSTRAINT clients_code_needs_redirect
        CHECK (NOT ('authorization_code' = ANY (grant_types)) OR cardinality(redirect_uris) > 0);

-- An SSO session: what the browser's cookie stands for. Only the SHA-256 of the cookie value is stored.
-- It is live while not ended, before both of its expiries, and while the user's token_version is the one
-- it was created with (so authsvc_revoke_user ends it even without the UPDATE below).
CREATE TABLE sessions (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),  -- the id_token's sid: public, not a secret
    hash            bytea NOT NULL UNIQUE CHECK (length(hash) = 32),
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_version   bigint NOT NULL,
    auth_time       timestamptz NOT NULL DEFAULT now(),          -- when the user last entered a password
    last_used_at    timestamptz NOT NULL DEFAULT now(),
    idle_expires_at timestamptz NOT NULL,                        -- moves on with use, never past expires_at
    expires_at      timestamptz NOT NULL,                        -- absolute
    ended_at        timestamptz,
    ended_reason    text
);
CREATE INDEX sessions_user_idx ON sessions (user_id) WHERE ended_at IS NULL;
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

-- The refresh families born in a session (logout may end them).
ALTER TABLE refresh_families ADD COLUMN session_id uuid REFERENCES sessions (id) ON DELETE SET NULL;
CREATE INDEX refresh_families_session_idx ON refresh_families (session_id) WHERE session_id IS NOT NULL;

-- Authorization codes: single use, short-lived, bound to everything of the request that produced them.
-- Only the SHA-256 of the code is stored. What was issued from a code is remembered, so that a replay
-- revokes it (RFC 6749 §4.1.2).
CREATE TABLE authorization_codes (
    hash           bytea PRIMARY KEY CHECK (length(hash) = 32),
    client_id      text NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    session_id     uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri   text NOT NULL,
    code_challenge text NOT NULL CHECK (length(code_challenge) = 43),  -- S256 only: base64url of a SHA-256
    scope          text NOT NULL DEFAULT '',
    nonce          text CHECK (length(nonce) <= 512),
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    used_at        timestamptz,
    family_id      uuid,            -- the refresh family issued from the code, if any
    access_jti     text,            -- the access token issued from it
    access_exp     timestamptz
);
CREATE INDEX authorization_codes_expires_idx ON authorization_codes (expires_at);

-- What a user approved for a third-party client.
CREATE TABLE consents (
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  text NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    scope      text NOT NULL,
    granted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, client_id)
);

-- Failed password checks, for throttling: one row per key ('u:' username '|' address, or 'a:' address),
-- shared by every instance. A success deletes its (username, address) row.
CREATE TABLE login_failures (
    key           text PRIMARY KEY CHECK (length(key) <= 600),
    failures      integer NOT NULL,
    last_at       timestamptz NOT NULL DEFAULT now(),
    blocked_until timestamptz NOT NULL
);
CREATE INDEX login_failures_last_idx ON login_failures (last_at);

-- authsvc_revoke_user now also ends the user's SSO sessions, in the same transaction.
CREATE OR REPLACE FUNCTION authsvc_revoke_user(p_user uuid, p_reason text, p_password_hash text DEFAULT NULL,
                                               p_disable boolean DEFAULT NULL, p_by text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_version  bigint;
    v_families bigint;
    v_sessions bigint;
BEGIN
    UPDATE users SET token_version = token_version + 1,
                     password_hash = coalesce(p_password_hash, password_hash),
                     disabled = coalesce(p_disable, disabled),
                     updated_at = now()
     WHERE id = p_user
    RETURNING token_version INTO v_version;
    IF v_version IS NULL THEN
        RETURN NULL;
    END IF;
    UPDATE refresh_families SET revoked_at = now(), revoked_reason = p_reason
     WHERE user_id = p_user AND revoked_at IS NULL;
    GET DIAGNOSTICS v_families = ROW_COUNT;
    UPDATE sessions SET ended_at = now(), ended_reason = p_reason
     WHERE user_id = p_user AND ended_at IS NULL;
    GET DIAGNOSTICS v_sessions = ROW_COUNT;
    INSERT INTO revocation_events (kind, subject, min_version) VALUES ('subject', p_user::text, v_version);
    INSERT INTO audit_events (kind, user_id, detail)
    VALUES (p_reason, p_user, jsonb_build_object('token_version', v_version, 'families_revoked', v_families,
                                                 'sessions_ended', v_sessions, 'by', p_by));
    RETURN v_version;
END
$$;
