// Package chaos injects faults on purpose, for the labs and the fault
// suite alike: `palantir chaos` is a thin command over it, and tests call
// it in-process.
//
// # The faults
//
//   - [Kill] sends SIGKILL to a live worker process of this machine, chosen
//     by name or at random among the busy ones, after checking that the
//     heartbeat's PID still belongs to that worker (a PID reused by another
//     process is never killed).
//   - [BadMessages] builds messages a worker must survive: malformed (not
//     JSON), oversized (a valid-looking order padded past the default
//     message size limit) and store-rejected (a valid order whose id the
//     store refuses). The caller publishes them with any
//     [backends.Publisher].
//   - [Proxy] is a TCP proxy to put between palantir and a broker or the
//     store, whose connections can be cut, delayed or black-holed (held
//     half-open, nothing forwarded) and healed on command: in-process
//     through its methods, or from another process through the control
//     channel ([Proxy.ControlHandler], [Control]).
//
// Nothing here knows a broker's name: a fault goes through the backend
// registry's queue or through TCP.
package chaos
