-- Times are BIGINT microseconds since the Unix epoch (UTC) in both
-- databases: exact, sortable, and identical in SQLite and PostgreSQL.
CREATE TABLE missions (
    id           TEXT PRIMARY KEY,
    type         TEXT NOT NULL,
    hero         TEXT NOT NULL,
    status       TEXT NOT NULL,
    progress     INTEGER NOT NULL DEFAULT 0,
    stage        TEXT NOT NULL DEFAULT '',
    attempt      INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    fail_rate    DOUBLE PRECISION NOT NULL,
    speed        DOUBLE PRECISION NOT NULL,
    seed         BIGINT NOT NULL,
    worker       TEXT NOT NULL DEFAULT '',
    backend      TEXT NOT NULL,
    queue        TEXT NOT NULL,
    score        INTEGER NOT NULL DEFAULT 0,
    error        TEXT NOT NULL DEFAULT '',
    created_us   BIGINT NOT NULL,
    queued_us    BIGINT,
    started_us   BIGINT,
    finished_us  BIGINT,
    updated_us   BIGINT NOT NULL
);
CREATE INDEX missions_created ON missions (created_us);
CREATE INDEX missions_status ON missions (status);

-- One row per scored mission: the primary key is what makes scoring
-- happen once however often a mission is delivered.
CREATE TABLE scores (
    mission_id TEXT PRIMARY KEY,
    hero       TEXT NOT NULL,
    points     INTEGER NOT NULL,
    first_try  INTEGER NOT NULL,
    scored_us  BIGINT NOT NULL
);

CREATE TABLE events (
    id          {{serial}},
    at_us       BIGINT NOT NULL,
    name        TEXT NOT NULL,
    mission_id  TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    service     TEXT NOT NULL,
    since_us    BIGINT NOT NULL,
    detail      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX events_mission ON events (mission_id, id);

-- Dead letters of backends without durable storage of their own (inproc).
CREATE TABLE dead_letters (
    seq        {{serial}},
    queue      TEXT NOT NULL,
    message_id TEXT NOT NULL,
    body       {{blob}} NOT NULL,
    attempt    INTEGER NOT NULL,
    reason     TEXT NOT NULL,
    dead_us    BIGINT NOT NULL
);
CREATE INDEX dead_letters_queue ON dead_letters (queue, seq);

CREATE TABLE workers (
    name         TEXT PRIMARY KEY,
    backend      TEXT NOT NULL,
    queue        TEXT NOT NULL,
    host         TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    concurrency  INTEGER NOT NULL,
    current      TEXT NOT NULL DEFAULT '',
    processed    BIGINT NOT NULL DEFAULT 0,
    started_us   BIGINT NOT NULL,
    heartbeat_us BIGINT NOT NULL,
    stopped_us   BIGINT
);
