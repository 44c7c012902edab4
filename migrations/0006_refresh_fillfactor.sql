-- Refresh rotation marks the consumed token (used_at = now()) and inserts its successor. used_at is in no index,
-- so the mark can be a heap-only (HOT) update, which adds no index entries, but only when the row's page has
-- room for the new version. Pages filled to 100 % (the default) have none: every mark then became a full update
-- with a new entry in both of the table's indexes, two random index pages written per rotation for nothing.
-- Each token row is updated at most once, so half of each page is kept free on insert; the table takes about
-- twice the space of its rows, and the indexes stay as small as the live rows need. Measured with the batched
-- rotation statement (bench/run): PostgreSQL's CPU per rotation fell from about 54 to 44 us, and 95 % of the
-- marks became HOT. Applies to pages written from now on; existing pages keep their fill.
ALTER TABLE refresh_tokens SET (fillfactor = 50);
