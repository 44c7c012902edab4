-- Rights a client must be granted to call the endpoints that tell about other clients' tokens:
--   introspection    POST /oauth2/introspect (RFC 7662): a resource server asks whether a token is active
--                    and learns its subject, scope and client
--   revocation-feed  GET /oauth2/revocations: the subjects and jtis revoked, for offline verifiers
-- Until now every confidential client could call both (and a public one could introspect its own tokens):
-- a mobile app's back end could learn who holds any token it saw. New clients get no right unless
-- `authsvc client add ... --allow introspection --allow revocation-feed` grants it.
--
-- Clients registered before this migration KEEP what they could do (compatibility): confidential clients get
-- both rights, public ones introspection (which stays limited to the tokens issued to them). Taking the rights
-- away here would stop every resource server's revocation feed the moment the schema is migrated, before an
-- operator could grant them back; revocations would then silently stop reaching offline verifiers, which is
-- worse than the exposure the rights close. Nothing is exposed by keeping them that was not exposed before the
-- upgrade; docs/operations.md ("Upgrading") says how to review them and take away the ones not needed.
ALTER TABLE clients
    ADD COLUMN rights text[] NOT NULL DEFAULT '{}',
    ADD CONSTRAINT clients_known_rights
        CHECK (rights <@ ARRAY['introspection', 'revocation-feed']::text[]),
    -- the feed lists every revoked subject: only for a client that proves who it is
    ADD CONSTRAINT clients_feed_needs_secret
        CHECK (NOT (public AND 'revocation-feed' = ANY (rights)));

UPDATE clients SET rights = CASE WHEN public THEN ARRAY['introspection']
                                 ELSE ARRAY['introspection', 'revocation-feed'] END;
