package serve

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the daemon's Prometheus metrics (docs/daemon.md). They live in a
// registry of the daemon's own, not the global one, so tests can run
// several daemons in one process. No label carries a finding id or an ARN:
// label values are a small fixed set (sources, verdicts, action types,
// results).
type metrics struct {
	reg *prometheus.Registry

	received       *prometheus.CounterVec
	deduplicated   prometheus.Counter
	rejected       *prometheus.CounterVec
	investigations *prometheus.CounterVec
	actions        *prometheus.CounterVec
	actionSeconds  *prometheus.HistogramVec
	plansPending   prometheus.Gauge
	circuitOpen    prometheus.Gauge
	reloads        *prometheus.CounterVec
	reactions      prometheus.Histogram
}

func newMetrics(inboxLag func() float64) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cordon_findings_received_total",
			Help: "Findings received and recorded in the inbox, by source (duplicates included).",
		}, []string{"source"}),
		deduplicated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cordon_findings_deduplicated_total",
			Help: "Findings dropped as duplicates: the same update delivered again, or an update older than one already planned.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cordon_findings_rejected_total",
			Help: "Input rejected as not findings of an accepted format, by source.",
		}, []string{"source"}),
		investigations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cordon_investigations_total",
			Help: "Findings investigated, by verdict (none: no rule matched; error: the investigation failed).",
		}, []string{"verdict"}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cordon_actions_total",
			Help: "Actions applied by the daemon, by action type and result.",
		}, []string{"type", "result"}),
		actionSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cordon_action_duration_seconds",
			Help:    "Time to apply an action, live state read included, by action type.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 10),
		}, []string{"type"}),
		plansPending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cordon_plans_pending",
			Help: "Plans waiting for approval.",
		}),
		circuitOpen: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cordon_circuit_open",
			Help: "1 while the circuit breaker is open: every plan waits for approval.",
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cordon_policy_reloads_total",
			Help: "Configuration and policy reloads, by result (ok, error).",
		}, []string{"result"}),
		reactions: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "cordon_reaction_seconds",
			Help:    "Time from a finding's arrival to the start of its first applied action.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
	}
	m.reg.MustRegister(m.received, m.deduplicated, m.rejected, m.investigations, m.actions, m.actionSeconds,
		m.plansPending, m.circuitOpen, m.reloads, m.reactions,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "cordon_inbox_lag_seconds",
			Help: "Age of the oldest finding received and not yet processed (0 when the inbox is empty).",
		}, inboxLag),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	// The labelled series exist from the start, so a dashboard shows 0
	// rather than nothing.
	m.reloads.WithLabelValues("ok")
	m.reloads.WithLabelValues("error")
	m.received.WithLabelValues("http")
	return m
}

// inboxLag measures the age of the oldest queued delivery; a scrape runs
// it, bounded so that a slow database cannot hold the scrape.
func (d *Daemon) inboxLag() float64 {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	q, err := d.store.QueuedDeliveries(ctx, 0, 1)
	if err != nil || len(q) == 0 {
		return 0
	}
	return d.now().Sub(q[0].ReceivedAt).Seconds()
}
