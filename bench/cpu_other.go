//go:build !unix

package bench

import "time"

// cpuTime is not measured on this system: bench reports 0 CPU seconds.
func cpuTime() time.Duration { return 0 }
