package apiserver

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	watches  prometheus.Gauge

	// The series of requests and latency by their labels, looked up in
	// the vectors once (hashing the label values and formatting the
	// code each request cost more than counting it).
	mu     sync.RWMutex
	series map[seriesKey]requestSeries
}

// seriesKey is the labels of a request's series.
type seriesKey struct {
	verb, resource string
	code           int
}

// requestSeries is a request's counter and, except for a watch, its
// latency histogram.
type requestSeries struct {
	count   prometheus.Counter
	latency prometheus.Observer
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orch_api_requests_total",
			Help: "API requests by verb, resource and HTTP code.",
		}, []string{"verb", "resource", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "orch_api_request_duration_seconds",
			Help:    "API request latency by verb and resource (watches excluded).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"verb", "resource"}),
		watches: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "orch_api_watches",
			Help: "Open watch streams.",
		}),
		series: map[seriesKey]requestSeries{},
	}
	reg.MustRegister(m.requests, m.latency, m.watches)
	reg.Register(collectors.NewGoCollector())
	reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observe(verb, resource string, code int, start time.Time) {
	s := m.seriesOf(verb, resource, code)
	s.count.Inc()
	if s.latency != nil {
		s.latency.Observe(time.Since(start).Seconds())
	}
}

// seriesOf is the series of a request of verb on resource answered code.
func (m *metrics) seriesOf(verb, resource string, code int) requestSeries {
	k := seriesKey{verb: verb, resource: resource, code: code}
	m.mu.RLock()
	s, ok := m.series[k]
	m.mu.RUnlock()
	if ok {
		return s
	}
	s.count = m.requests.WithLabelValues(verb, resource, strconv.Itoa(code))
	if verb != "watch" {
		s.latency = m.latency.WithLabelValues(verb, resource)
	}
	m.mu.Lock()
	m.series[k] = s
	m.mu.Unlock()
	return s
}

// statusRecorder remembers the status code written.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
