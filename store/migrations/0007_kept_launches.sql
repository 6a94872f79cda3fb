-- Each launch's chunk of missions until it is published: if the launcher
-- dies between recording its missions and publishing them, the queue's
-- workers and serve find the chunk here once due_us passes and publish
-- the missions still PENDING (rebuilt from their rows). ids are the
-- chunk's mission ids, comma-separated, and kinds the definitions of the
-- defined types among them (JSON, empty when none).
CREATE TABLE IF NOT EXISTS kept_launches (
    id TEXT PRIMARY KEY,
    backend TEXT NOT NULL,
    queue TEXT NOT NULL,
    due_us BIGINT NOT NULL,
    claimed_until_us BIGINT NOT NULL DEFAULT 0,
    ids TEXT NOT NULL,
    kinds TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS kept_launches_due ON kept_launches (backend, queue, due_us);
