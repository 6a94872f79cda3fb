-- Missions launched for later (`launch --in/--at`): their message waits
-- here until due, when a worker or serve of the queue claims and
-- publishes it.
CREATE TABLE IF NOT EXISTS due_missions (
    id TEXT PRIMARY KEY,
    backend TEXT NOT NULL,
    queue TEXT NOT NULL,
    due_us BIGINT NOT NULL,
    claimed_until_us BIGINT NOT NULL DEFAULT 0,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS due_missions_due ON due_missions (backend, queue, due_us);
