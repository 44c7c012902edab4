-- authsvc schema, version 1: users, clients, refresh-token families and tokens, audit events.
-- Applied by `authsvc migrate` in one transaction, under an advisory lock.

CREATE TABLE users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    username      text NOT NULL UNIQUE CHECK (length(username) BETWEEN 1 AND 255),
    password_hash text NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    token_version bigint NOT NULL DEFAULT 1 CHECK (token_version >= 1),
    disabled      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE clients (
    client_id        text PRIMARY KEY CHECK (length(client_id) BETWEEN 1 AND 255),
    -- SHA-256 of the client secret (secrets are 256 random bits, so a fast hash suffices);
    -- NULL exactly for public clients.
    secret_hash      bytea CHECK (secret_hash IS NULL OR length(secret_hash) = 32),
    public           boolean NOT NULL DEFAULT false,
    grant_types      text[] NOT NULL DEFAULT '{}',
    audiences        text[] NOT NULL DEFAULT '{}',
    scopes           text[] NOT NULL DEFAULT '{}',
    access_ttl       integer CHECK (access_ttl > 0),       -- NULL: the server's default
    refresh_idle_ttl integer CHECK (refresh_idle_ttl > 0),
    refresh_max_ttl  integer CHECK (refresh_max_ttl > 0),
    created_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (public = (secret_hash IS NULL)),
    CHECK (NOT (public AND 'client_credentials' = ANY (grant_types)))
);

-- All refresh tokens descended from one login.
CREATE TABLE refresh_families (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id      text NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    token_version  bigint NOT NULL,             -- the user's token_version at login
    scope          text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,        -- absolute lifetime: rotation never extends it
    revoked_at     timestamptz,
    revoked_reason text
);
CREATE INDEX refresh_families_user_idx ON refresh_families (user_id) WHERE revoked_at IS NULL;
CREATE INDEX refresh_families_expires_idx ON refresh_families (expires_at);

CREATE TABLE refresh_tokens (
    hash        bytea PRIMARY KEY CHECK (length(hash) = 32),   -- SHA-256 of the token; never the token
    family_id   uuid NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    parent_hash bytea,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,           -- idle lifetime
    used_at     timestamptz
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);

CREATE TABLE audit_events (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    kind      text NOT NULL,
    user_id   uuid,
    client_id text,
    detail    jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_at_idx ON audit_events (at);
