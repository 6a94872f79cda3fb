// Package sqlqueue is a work queue kept in a SQL database: the design
// that the postgres and sqlite backends share (schema, claim, lease and
// settlement SQL), written once, with a small Dialect for what differs.
package sqlqueue
