-- Refresh tokens, format 2: the family row holds its current token.
--
-- A format-2 token names its family and its generation (see authsvc/token/refresh.h), so that rotation is one
-- UPDATE of the family's row, found by primary key: gen + 1, the successor's hash, its idle expiry, when it
-- was rotated. No row is inserted and no index entry added (none of these columns is indexed, so the update is
-- heap-only when the page has room), and no foreign key is checked. A family keeps one row for its whole life,
-- where format 1 keeps one refresh_tokens row per rotation until the family expires.
--
-- Format-1 families (these columns NULL) keep their tokens in refresh_tokens and rotate as before until they
-- expire: nothing a user holds stops working.
ALTER TABLE refresh_families
    ADD COLUMN gen         integer CHECK (gen >= 0),              -- the current token's generation (0: the login's first)
    ADD COLUMN cur_hash    bytea CHECK (length(cur_hash) = 32),   -- SHA-256 of the current token's secret; never the token
    ADD COLUMN cur_expires timestamptz,                           -- the current token's idle expiry
    ADD COLUMN rotated_at  timestamptz,                           -- when the current token replaced its parent (NULL: gen 0)
    ADD CONSTRAINT refresh_families_format CHECK ((gen IS NULL) = (cur_hash IS NULL) AND (gen IS NULL) = (cur_expires IS NULL));

-- Every rotation rewrites the row: keep room on each page for the new version (a heap-only update).
ALTER TABLE refresh_families SET (fillfactor = 50);
