-- Revocation: access tokens revoked by jti, a feed of revocations for offline verifiers, and one function
-- that every "revoke everything of a user" path goes through (password change, admin revoke, disable).

-- Access tokens revoked before they expire (RFC 7009). Kept until they expire anyway.
CREATE TABLE revoked_tokens (
    jti        text PRIMARY KEY CHECK (length(jti) BETWEEN 1 AND 128),
    expires_at timestamptz NOT NULL,
    client_id  text,
    revoked_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX revoked_tokens_expires_idx ON revoked_tokens (expires_at);

-- The revocation feed. A verifier's cursor is a transaction-id horizon H: it is sent the rows with
-- H <= xid < X, where X is the oldest transaction still running when it asks (pg_snapshot_xmin), and X
-- becomes its next cursor. Every transaction below X has finished, and every later one gets an xid >= X,
-- so no row is ever skipped (as a sequence could: numbers are taken before commit, in another order).
-- kind 'subject': tokens of `subject` with ver < min_version are revoked; kind 'jti': that token is revoked.
-- Rows older than the longest access-token lifetime are compacted away: no token they affect is still valid.
CREATE TABLE revocation_events (
    seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    xid         xid8 NOT NULL DEFAULT pg_current_xact_id(),
    at          timestamptz NOT NULL DEFAULT now(),
    kind        text NOT NULL CHECK (kind IN ('subject', 'jti')),
    subject     text,
    min_version bigint,
    jti         text,
    expires_at  timestamptz,
    CHECK ((kind = 'subject') = (subject IS NOT NULL AND min_version IS NOT NULL)),
    CHECK ((kind = 'jti') = (jti IS NOT NULL AND expires_at IS NOT NULL))
);
CREATE INDEX revocation_events_at_idx ON revocation_events (at);
CREATE INDEX revocation_events_xid_idx ON revocation_events (xid);

-- The feed holds every row from this horizon on: a cursor below it must resynchronise from a snapshot.
CREATE TABLE revocation_feed_state (
    singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    compacted_xid xid8 NOT NULL DEFAULT '0'
);
INSERT INTO revocation_feed_state DEFAULT VALUES;

-- Ends every session of a user, in the caller's transaction: a new token_version, every refresh family
-- revoked, a feed entry and an audit event. Optionally sets a new password hash and the disabled flag.
-- Returns the new token_version, or NULL if there is no such user.
CREATE FUNCTION authsvc_revoke_user(p_user uuid, p_reason text, p_password_hash text DEFAULT NULL,
                                    p_disable boolean DEFAULT NULL, p_by text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_version  bigint;
    v_families bigint;
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
    INSERT INTO revocation_events (kind, subject, min_version) VALUES ('subject', p_user::text, v_version);
    INSERT INTO audit_events (kind, user_id, detail)
    VALUES (p_reason, p_user, jsonb_build_object('token_version', v_version, 'families_revoked', v_families, 'by', p_by));
    RETURN v_version;
END
$$;
