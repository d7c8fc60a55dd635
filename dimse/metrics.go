package dimse

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the server's Prometheus collectors; a nil *metrics records
// nothing (no Registerer configured).
type metrics struct {
	active   prometheus.Gauge
	total    *prometheus.CounterVec
	messages *prometheus.CounterVec
	received prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		return nil
	}
	m := &metrics{
		active: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "sonogate", Subsystem: "dimse",
			Name: "associations_active", Help: "Associations currently established."}),
		total: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "sonogate", Subsystem: "dimse",
			Name: "associations_total", Help: "Associations by outcome (accepted, rejected, aborted)."}, []string{"outcome"}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "sonogate", Subsystem: "dimse",
			Name: "messages_received_total", Help: "DIMSE request messages received by command."}, []string{"command"}),
		received: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "sonogate", Subsystem: "dimse",
			Name: "received_bytes_total", Help: "PDV payload bytes received."}),
	}
	for _, c := range []prometheus.Collector{m.active, m.total, m.messages, m.received} {
		if err := reg.Register(c); err != nil {
			if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
				_ = are // a second server on the same registry shares nothing; keep ours unregistered
				continue
			}
		}
	}
	return m
}

func (m *metrics) opened() {
	if m != nil {
		m.active.Inc()
		m.total.WithLabelValues("accepted").Inc()
	}
}

func (m *metrics) closed() {
	if m != nil {
		m.active.Dec()
	}
}

func (m *metrics) rejected() {
	if m != nil {
		m.total.WithLabelValues("rejected").Inc()
	}
}

func (m *metrics) aborted() {
	if m != nil {
		m.total.WithLabelValues("aborted").Inc()
	}
}

func (m *metrics) message(cf uint16) {
	if m != nil {
		m.messages.WithLabelValues(commandName(cf)).Inc()
	}
}

func (m *metrics) bytes(n int) {
	if m != nil {
		m.received.Add(float64(n))
	}
}

func commandName(cf uint16) string {
	switch cf {
	case CommandCEchoRQ:
		return "C-ECHO-RQ"
	case CommandCStoreRQ:
		return "C-STORE-RQ"
	case CommandCFindRQ:
		return "C-FIND-RQ"
	case CommandCMoveRQ:
		return "C-MOVE-RQ"
	case CommandCGetRQ:
		return "C-GET-RQ"
	case CommandCCancelRQ:
		return "C-CANCEL-RQ"
	case CommandNActionRQ:
		return "N-ACTION-RQ"
	}
	return fmt.Sprintf("0x%04X", cf)
}
