package main

import (
	"math"
	"strings"
	"testing"
	"time"
)

const metricsText = `# HELP orch_api_request_duration_seconds API request latency by verb and resource (watches excluded).
# TYPE orch_api_request_duration_seconds histogram
orch_api_request_duration_seconds_bucket{resource="pods",verb="create",le="0.001"} 10
orch_api_request_duration_seconds_bucket{resource="pods",verb="create",le="0.01"} 90
orch_api_request_duration_seconds_bucket{resource="pods",verb="create",le="0.1"} 100
orch_api_request_duration_seconds_bucket{resource="pods",verb="create",le="+Inf"} 100
orch_api_request_duration_seconds_sum{resource="pods",verb="create"} 0.5
orch_api_request_duration_seconds_count{resource="pods",verb="create"} 100
orch_api_request_duration_seconds_bucket{resource="nodes",verb="create",le="0.001"} 0
orch_api_request_duration_seconds_bucket{resource="nodes",verb="create",le="0.01"} 0
orch_api_request_duration_seconds_bucket{resource="nodes",verb="create",le="0.1"} 0
orch_api_request_duration_seconds_bucket{resource="nodes",verb="create",le="+Inf"} 100
orch_api_request_duration_seconds_sum{resource="nodes",verb="create"} 50
orch_api_request_duration_seconds_count{resource="nodes",verb="create"} 100
orch_api_request_duration_seconds_bucket{resource="pods",verb="get",le="0.001"} 4
orch_api_request_duration_seconds_bucket{resource="pods",verb="get",le="0.01"} 4
orch_api_request_duration_seconds_bucket{resource="pods",verb="get",le="0.1"} 4
orch_api_request_duration_seconds_bucket{resource="pods",verb="get",le="+Inf"} 4
orch_api_request_duration_seconds_sum{resource="pods",verb="get"} 0.002
orch_api_request_duration_seconds_count{resource="pods",verb="get"} 4
`

func TestAPILatencies(t *testing.T) {
	v := verbLatencies{}
	if ok, err := v.add([]byte(metricsText)); err != nil || !ok {
		t.Fatal(ok, err)
	}
	create := v["create"]
	if create == nil || create.count() != 200 {
		t.Fatalf("create: %+v", create)
	}
	tests := []struct {
		q, want float64
	}{
		{0.025, 0.0005}, // rank 5 of 200: half of the first bucket
		{0.25, 0.0055},  // rank 50: (50-10)/80 of the way from 1 ms to 10 ms
		{0.5, 0.1},      // rank 100: the top of the 100 ms bucket
		{0.99, 0.1},     // in +Inf: the highest finite bound
	}
	for _, tt := range tests {
		if got := create.quantile(tt.q); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("create q%.2f = %v, want %v", tt.q, got, tt.want)
		}
	}
	// A second master's reading sums in; since subtracts the first.
	before := verbLatencies{}
	if _, err := before.add([]byte(metricsText)); err != nil {
		t.Fatal(err)
	}
	if _, err := v.add([]byte(metricsText)); err != nil {
		t.Fatal(err)
	}
	d := v.since(before)
	if d["create"].count() != 200 || d["get"].count() != 4 {
		t.Fatalf("since: create %v get %v", d["create"].count(), d["get"].count())
	}
	if same := v.since(v); len(same) != 0 {
		t.Fatalf("nothing happened, yet %v", same)
	}
	if s := d.String(); !strings.Contains(s, "create") || !strings.Contains(s, "p99 100.0 ms") {
		t.Errorf("report %q", s)
	}
}

func TestAPILatenciesRefuses(t *testing.T) {
	// A master that answered nothing has no histograms: no error, none found.
	if ok, err := (verbLatencies{}).add([]byte("# TYPE other counter\nother 1\n")); ok || err != nil {
		t.Fatalf("without the metric: %v %v", ok, err)
	}
	tests := map[string]string{
		"not a histogram": "# TYPE orch_api_request_duration_seconds counter\norch_api_request_duration_seconds 1\n",
		"garbage":         "orch_api_request_duration_seconds_bucket{le=\n",
	}
	for name, text := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := (verbLatencies{}).add([]byte(text)); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, tt := range []struct {
		p    int
		want string
	}{{50, "50ms"}, {90, "90ms"}, {99, "99ms"}, {100, "100ms"}, {1, "1ms"}} {
		if got := pct(d, tt.p); got != tt.want {
			t.Errorf("p%d = %s, want %s", tt.p, got, tt.want)
		}
	}
	if pct(nil, 50) != "-" {
		t.Error("a percentile of nothing")
	}
}

func TestThrottled(t *testing.T) {
	text := `# TYPE orch_api_requests_total counter
orch_api_requests_total{code="201",resource="pods",verb="create"} 90
orch_api_requests_total{code="429",resource="pods",verb="create"} 7
orch_api_requests_total{code="429",resource="leases",verb="update"} 3
`
	if n, err := throttled([]byte(text)); err != nil || n != 10 {
		t.Fatalf("throttled %v %v, want 10", n, err)
	}
	if n, err := throttled([]byte("# TYPE other counter\nother 1\n")); err != nil || n != 0 {
		t.Fatalf("without the counter: %v %v", n, err)
	}
	if _, err := throttled([]byte("orch_api_requests_total{code=\n")); err == nil {
		t.Fatal("garbage accepted")
	}
}
