package routing

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sonogate/sonogate/catalog"
)

// queueMetrics is nil-safe: a nil *queueMetrics records nothing.
type queueMetrics struct {
	sentTotal  *prometheus.CounterVec
	bytesTotal *prometheus.CounterVec
	retries    *prometheus.CounterVec
	deadTotal  *prometheus.CounterVec
	sendTime   *prometheus.HistogramVec
}

func newQueueMetrics(cat *catalog.Catalog, reg prometheus.Registerer, now func() time.Time) (*queueMetrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &queueMetrics{
		sentTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonogate_routing_sent_total", Help: "Instances delivered, by destination.",
		}, []string{"destination"}),
		bytesTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonogate_routing_sent_bytes_total", Help: "Bytes of stored files delivered, by destination.",
		}, []string{"destination"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonogate_routing_retries_total", Help: "Failed deliveries scheduled for retry, by destination.",
		}, []string{"destination"}),
		deadTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonogate_routing_dead_letters_total", Help: "Jobs moved to the dead letter state, by destination.",
		}, []string{"destination"}),
		sendTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sonogate_routing_send_seconds", Help: "Duration of successful sends, by destination.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, []string{"destination"}),
	}
	for _, c := range []prometheus.Collector{m.sentTotal, m.bytesTotal, m.retries, m.deadTotal, m.sendTime, &depthCollector{cat: cat, now: now}} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *queueMetrics) sent(dest string, size int64, d time.Duration) {
	if m == nil {
		return
	}
	m.sentTotal.WithLabelValues(dest).Inc()
	m.bytesTotal.WithLabelValues(dest).Add(float64(size))
	m.sendTime.WithLabelValues(dest).Observe(d.Seconds())
}

func (m *queueMetrics) retry(dest string) {
	if m != nil {
		m.retries.WithLabelValues(dest).Inc()
	}
}

func (m *queueMetrics) dead(dest string) {
	if m != nil {
		m.deadTotal.WithLabelValues(dest).Inc()
	}
}

var (
	jobsDesc = prometheus.NewDesc("sonogate_routing_jobs",
		"Routing jobs by destination and state (pending, inflight, done, dead).",
		[]string{"destination", "state"}, nil)
	oldestDesc = prometheus.NewDesc("sonogate_routing_oldest_undelivered_seconds",
		"Age of the oldest pending or inflight job, by destination (0 when none).",
		[]string{"destination"}, nil)
)

// depthCollector reads the queue depth from the catalog at scrape time, so
// every replica reports the shared truth.
type depthCollector struct {
	cat *catalog.Catalog
	now func() time.Time
}

func (c *depthCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- jobsDesc
	ch <- oldestDesc
}

func (c *depthCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	stats, err := c.cat.Stats(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(jobsDesc, err)
		return
	}
	now := c.now()
	for _, s := range stats {
		for _, st := range []catalog.JobState{catalog.JobPending, catalog.JobInflight, catalog.JobDone, catalog.JobDead} {
			ch <- prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, float64(s.Counts[st]), s.Destination, string(st))
		}
		age := 0.0
		if !s.OldestPending.IsZero() {
			age = max(now.Sub(s.OldestPending).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, age, s.Destination)
	}
}
