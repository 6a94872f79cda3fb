-- Every state change of every mission rewrote this index, and nothing
-- needed it: the summary counts scan anyway, and history filters by status
-- within a time range.
DROP INDEX IF EXISTS missions_status;
