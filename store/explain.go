package store

// Primitive names the SQL that produced a telemetry event the store
// emits itself (service store:<driver>), for `trace --explain`; "" for an
// event it does not emit.
func (s *Store) Primitive(event string) string {
	commit := "COMMIT: the WAL is fsynced (synchronous=FULL) before the worker acks"
	if s.driver != "sqlite" {
		commit = "COMMIT: the WAL is flushed to disk before the worker acks"
	}
	switch event {
	case "mission_persisted":
		return "UPDATE missions SET status = 'SUCCESS'|'FAILURE' … WHERE status is not final, with the events, in one transaction; " + commit
	case "hero_scored":
		return "INSERT INTO scores (mission_id UNIQUE: once per mission) in the outcome's transaction; the leaderboard sums them"
	}
	return ""
}
