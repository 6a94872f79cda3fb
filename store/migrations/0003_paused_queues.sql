-- Queues paused with `palantir queue pause`: their workers take no new
-- missions until the row is gone.
CREATE TABLE IF NOT EXISTS paused_queues (
    backend TEXT NOT NULL,
    queue TEXT NOT NULL,
    paused_us BIGINT NOT NULL,
    PRIMARY KEY (backend, queue)
);
