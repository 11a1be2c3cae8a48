package apiserver

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// observeByLabels is metrics.observe as it was: the series looked up by
// their label values on every request.
func (m *metrics) observeByLabels(verb, resource string, code int, start time.Time) {
	m.requests.WithLabelValues(verb, resource, strconv.Itoa(code)).Inc()
	if verb != "watch" {
		m.latency.WithLabelValues(verb, resource).Observe(time.Since(start).Seconds())
	}
}

// seriesText is what reg exposes of the request metrics: each series'
// labels with its count (the counter's value, the histogram's sample
// count; the durations differ from run to run).
func seriesText(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "orch_api_") {
			continue
		}
		for _, m := range mf.Metric {
			fmt.Fprintf(&b, "%s %s", mf.GetName(), labelText(m.Label))
			switch {
			case m.Counter != nil:
				fmt.Fprintf(&b, " %v\n", m.Counter.GetValue())
			case m.Histogram != nil:
				fmt.Fprintf(&b, " %d\n", m.Histogram.GetSampleCount())
			case m.Gauge != nil:
				fmt.Fprintf(&b, " %v\n", m.Gauge.GetValue())
			}
		}
	}
	return b.String()
}

func labelText(ls []*dto.LabelPair) string {
	var parts []string
	for _, l := range ls {
		parts = append(parts, l.GetName()+"="+strconv.Quote(l.GetValue()))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// TestObserveMatchesLabelLookup observes random requests (watches among
// them, whose latency is not recorded; unknown paths; every code) through
// the remembered series and through the label lookups, from several
// goroutines: both registries expose the same series with the same counts.
func TestObserveMatchesLabelLookup(t *testing.T) {
	newReg, oldReg := prometheus.NewRegistry(), prometheus.NewRegistry()
	next, old := newMetrics(newReg), newMetrics(oldReg)
	verbs := []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "unknown"}
	resources := []string{"pods", "nodes", "leases", "deployments", "unknown", ""}
	codes := []int{0, 200, 201, 400, 403, 404, 409, 422, 429, 500, 504}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 9))
			for range 3000 {
				verb, res, code := verbs[r.IntN(len(verbs))], resources[r.IntN(len(resources))], codes[r.IntN(len(codes))]
				start := time.Now()
				next.observe(verb, res, code, start)
				old.observeByLabels(verb, res, code, start)
			}
		}()
	}
	wg.Wait()
	got, want := seriesText(t, newReg), seriesText(t, oldReg)
	if got != want {
		t.Fatalf("series:\n%s\nby label lookups:\n%s", got, want)
	}
	if !strings.Contains(got, `orch_api_requests_total {code="201",resource="pods",verb="create"}`) ||
		strings.Contains(got, `orch_api_request_duration_seconds {resource="pods",verb="watch"}`) {
		t.Fatalf("unexpected series:\n%s", got)
	}
}
