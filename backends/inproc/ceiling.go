package inproc

import (
	"context"
	"sync"
	"time"

	"github.com/palantir-lab/palantir/backends"
)

// ceiling is the in-process ceiling: a buffered Go channel from one
// producer to c.Concurrency consumers.
func ceiling(ctx context.Context, c backends.CeilingRun) (time.Duration, error) {
	ch := make(chan []byte, 1024)
	start := time.Now()
	var wg sync.WaitGroup
	for range c.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var n int64
			for range ch {
				n++
				if n == 256 {
					c.Acked.Add(n)
					n = 0
				}
			}
			c.Acked.Add(n)
		}()
	}
	for i := 0; i < c.Messages; i++ {
		if i%4096 == 0 && ctx.Err() != nil {
			break
		}
		ch <- c.Body
	}
	close(ch)
	wg.Wait()
	return time.Since(start), ctx.Err()
}
