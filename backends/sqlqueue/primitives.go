package sqlqueue

import "fmt"

// Primitives names the SQL behind each telemetry event (trace
// --explain), in the dialect's words: the transaction that ends each
// publish runs Notify where the dialect has one.
func (d Dialect) Primitives() map[string]string {
	notify := ""
	if d.Notify != "" {
		notify = "; NOTIFY " + "palantir_queue" + ", Q"
	}
	lock := ""
	if d.Lock != "" {
		lock = " " + d.Lock
	}
	owned := " WHERE id = ? AND lease_token = ?"
	return map[string]string{
		"mission_queued": "BEGIN; INSERT INTO " + Table + " (queue, msg_id, body, attempt, …) VALUES (Q, …), …" + notify +
			"; COMMIT (a launch's batch is all or nothing, and when the store is this database the missions' rows are in the same transaction; a retry's copy is inserted in the retry's transaction)",
		"mission_started": "UPDATE " + Table + " SET visible_at = now + lease, deliveries = deliveries + 1, lease_token = T WHERE " +
			fmt.Sprintf(d.Claimable, "SELECT id FROM "+Table+" WHERE queue = Q AND visible_at <= now ORDER BY visible_at, id LIMIT n"+lock) +
			" RETURNING … (the claim)",
		"mission_progress": "UPDATE " + Table + " SET visible_at = now + lease" + owned + " (extends the lease)",
		"mission_retry": "BEGIN; INSERT INTO " + Table + " SELECT … attempt + 1, visible_at = now + delay FROM " + Table + owned +
			"; DELETE FROM " + Table + owned + notify + "; COMMIT",
		"mission_persisted": "DELETE FROM " + Table + owned + " (the ack: inside the outcome's own transaction when the store is this database, so both commit or neither; otherwise after the store's commit, concurrent acks sharing a transaction)",
		"mission_dead_lettered": "BEGIN; INSERT INTO " + DeadTable + " SELECT …, reason FROM " + Table + owned +
			"; DELETE FROM " + Table + owned + "; COMMIT (a final failure's: inside the outcome's own transaction when the store is this database)",
	}
}
