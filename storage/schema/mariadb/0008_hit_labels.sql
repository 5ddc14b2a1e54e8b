-- warden schema v8 (MariaDB / MySQL): the labels a hit's evaluation set.
-- rule_results.labels holds the hit's "labels" JSON array,
-- [{"label":L,"ttl_ms":N,"expires":"RFC 3339"[,"entity":E]}] (entity only
-- when the label is not on the hit's entity), NULL when the rule set none:
-- what `warden undo` removes and `warden investigate` lists.  Additive: an
-- instant column.
ALTER TABLE rule_results ADD COLUMN IF NOT EXISTS labels BLOB NULL, ALGORITHM=INSTANT;
