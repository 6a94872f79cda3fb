package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/palantir-lab/palantir/backends"
	"github.com/palantir-lab/palantir/store"
)

// Source is where the gauges are read at scrape time. Any func may be nil:
// its metrics are then left out.
type Source struct {
	Backend, Queue string
	// Stats asks the broker for the queue's figures.
	Stats func(context.Context) (backends.Stats, error)
	// Counts returns the store's missions by type and state.
	Counts func(context.Context) ([]store.Count, error)
	// LiveWorkers counts the workers of this backend and queue that beat
	// recently.
	LiveWorkers func(context.Context) (int, error)
}

// gauges is a prometheus.Collector that reads a Source when scraped, so
// that the figures are the store's and the broker's, not a copy that can
// drift. A scrape waits at most scrapeTimeout for them.
type gauges struct {
	src                          Source
	missions, queue, workers, up *prometheus.Desc
}

const scrapeTimeout = 5 * time.Second

// Gauges returns the collector of src's figures, to Register.
func Gauges(src Source) prometheus.Collector {
	return &gauges{src: src,
		missions: prometheus.NewDesc("palantir_missions", "Missions in the store, by type and state.", []string{"type", "status"}, nil),
		queue: prometheus.NewDesc("palantir_queue_messages", "Messages of the queue by state (ready, in_flight, delayed, dead_letters), as the broker counts them.",
			[]string{"backend", "queue", "state"}, nil),
		workers: prometheus.NewDesc("palantir_workers_live", "Workers of this backend and queue whose heartbeat is recent.", []string{"backend", "queue"}, nil),
		up: prometheus.NewDesc("palantir_source_up", "1 when the last scrape could read the source (store, broker), 0 when it did not answer: its gauges are then left out.",
			[]string{"source"}, nil),
	}
}

func (g *gauges) Describe(ch chan<- *prometheus.Desc) {
	ch <- g.missions
	ch <- g.queue
	ch <- g.workers
	ch <- g.up
}

// Collect reads the source. A part that fails is left out and reported
// in palantir_source_up, so that an outage does not take the counters,
// histograms and runtime metrics of the same scrape with it.
func (g *gauges) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	up := map[string]bool{}
	if g.src.Counts != nil {
		counts, err := g.src.Counts(ctx)
		up["store"] = err == nil
		for _, c := range counts {
			ch <- prometheus.MustNewConstMetric(g.missions, prometheus.GaugeValue, float64(c.N), c.Key, c.Status)
		}
	}
	if g.src.LiveWorkers != nil {
		n, err := g.src.LiveWorkers(ctx)
		if ok, seen := up["store"]; seen {
			up["store"] = ok && err == nil
		} else {
			up["store"] = err == nil
		}
		if err == nil {
			ch <- prometheus.MustNewConstMetric(g.workers, prometheus.GaugeValue, float64(n), g.src.Backend, g.src.Queue)
		}
	}
	if g.src.Stats != nil {
		s, err := g.src.Stats(ctx)
		up["broker"] = err == nil
		if err == nil {
			for state, v := range map[string]int64{"ready": s.Ready, "in_flight": s.InFlight, "delayed": s.Delayed, "dead_letters": s.DeadLetters} {
				if v >= 0 { // -1: the backend cannot count it
					ch <- prometheus.MustNewConstMetric(g.queue, prometheus.GaugeValue, float64(v), g.src.Backend, g.src.Queue, state)
				}
			}
		}
	}
	for source, ok := range up {
		v := 0.0
		if ok {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(g.up, prometheus.GaugeValue, v, source)
	}
}
