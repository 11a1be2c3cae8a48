package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"orch.io/orch/test/harness"
)

// parseMetrics returns the unlabelled samples of a Prometheus text page, by name.
func parseMetrics(text []byte) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") || strings.Contains(name, "{") {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return nil, fmt.Errorf("metric %s: %q: %w", name, v, err)
		}
		out[name] = f
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	return out, nil
}

// metricValue reads one unlabelled metric from master i's /metrics (-1 when
// the master does not answer or does not have it).
func metricValue(t *testing.T, c *harness.Cluster, i int, name string) float64 {
	t.Helper()
	var raw []byte
	if err := c.Client(i).Do(ctxT(t, 5*time.Second), "GET", "/metrics", nil, nil, &raw); err != nil {
		return -1
	}
	m, err := parseMetrics(raw)
	if err != nil {
		t.Fatalf("master %d: %v", i, err)
	}
	v, ok := m[name]
	if !ok {
		return -1
	}
	return v
}
