-- Locks of `launch --unique-for`: one mission per key (backend, queue,
-- type, hero) until until_us.
CREATE TABLE IF NOT EXISTS unique_locks (
    key TEXT PRIMARY KEY,
    mission_id TEXT NOT NULL,
    until_us BIGINT NOT NULL
);
