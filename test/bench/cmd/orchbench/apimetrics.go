package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"orch.io/orch/api/client"
)

// apiLatencyMetric is the masters' API latency histogram, by verb and
// resource (watches excluded).
const apiLatencyMetric = "orch_api_request_duration_seconds"

// histogram is a cumulative Prometheus histogram: the count at or below
// each upper bound, ascending, the last +Inf.
type histogram struct {
	bounds []float64
	counts []float64
}

// verbLatencies holds one histogram per API verb, summed over resources
// and masters.
type verbLatencies map[string]*histogram

// apiReading is what the masters' /metrics said at one time: latency per
// verb and the requests refused with 429 (the in-flight limits).
type apiReading struct {
	verbs     verbLatencies
	throttled float64
}

// readAPILatencies reads every master's /metrics and sums its API latency
// histograms per verb and its 429 answers. A master that answered no
// request yet has no histograms; at least one master must have them.
func readAPILatencies(ctx context.Context, clients []*client.Client) (apiReading, error) {
	out := apiReading{verbs: verbLatencies{}}
	found := false
	for i, cl := range clients {
		var raw []byte
		if err := cl.Do(ctx, "GET", "/metrics", nil, nil, &raw); err != nil {
			return apiReading{}, fmt.Errorf("read master %d's metrics: %w", i, err)
		}
		ok, err := out.verbs.add(raw)
		if err != nil {
			return apiReading{}, fmt.Errorf("master %d's metrics: %w", i, err)
		}
		found = found || ok
		n, err := throttled(raw)
		if err != nil {
			return apiReading{}, fmt.Errorf("master %d's metrics: %w", i, err)
		}
		out.throttled += n
	}
	if !found {
		return apiReading{}, fmt.Errorf("no master's metrics hold %s", apiLatencyMetric)
	}
	return out, nil
}

// throttled sums orch_api_requests_total{code="429"} of one /metrics text.
func throttled(text []byte) (float64, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		return 0, fmt.Errorf("parse: %w", err)
	}
	total := 0.0
	for _, m := range fams["orch_api_requests_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "code" && l.GetValue() == "429" {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total, nil
}

// add sums the API latency histograms of one /metrics text into v; it
// reports whether the text held them.
func (v verbLatencies) add(text []byte) (bool, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		return false, fmt.Errorf("parse: %w", err)
	}
	fam, ok := fams[apiLatencyMetric]
	if !ok {
		return false, nil
	}
	if fam.GetType() != dto.MetricType_HISTOGRAM {
		return false, fmt.Errorf("%s is a %s, not a histogram", apiLatencyMetric, fam.GetType())
	}
	for _, m := range fam.GetMetric() {
		verb := ""
		for _, l := range m.GetLabel() {
			if l.GetName() == "verb" {
				verb = l.GetValue()
			}
		}
		h := m.GetHistogram()
		bounds := make([]float64, 0, len(h.GetBucket())+1)
		counts := make([]float64, 0, len(h.GetBucket())+1)
		for _, b := range h.GetBucket() {
			bounds = append(bounds, b.GetUpperBound())
			counts = append(counts, float64(b.GetCumulativeCount()))
		}
		if len(bounds) == 0 || !math.IsInf(bounds[len(bounds)-1], 1) {
			bounds = append(bounds, math.Inf(1))
			counts = append(counts, float64(h.GetSampleCount()))
		}
		cur := v[verb]
		if cur == nil {
			v[verb] = &histogram{bounds: bounds, counts: counts}
			continue
		}
		if len(cur.bounds) != len(bounds) {
			return false, fmt.Errorf("%s{verb=%q}: %d buckets here, %d elsewhere", apiLatencyMetric, verb, len(bounds), len(cur.bounds))
		}
		for i := range counts {
			if cur.bounds[i] != bounds[i] {
				return false, fmt.Errorf("%s{verb=%q}: bucket %d bounds %v vs %v", apiLatencyMetric, verb, i, bounds[i], cur.bounds[i])
			}
			cur.counts[i] += counts[i]
		}
	}
	return true, nil
}

// since returns the observations of v made after before (a reading of the
// same masters taken earlier).
func (v verbLatencies) since(before verbLatencies) verbLatencies {
	out := verbLatencies{}
	for verb, h := range v {
		d := &histogram{bounds: h.bounds, counts: append([]float64(nil), h.counts...)}
		if b := before[verb]; b != nil && len(b.counts) == len(d.counts) {
			for i := range d.counts {
				d.counts[i] -= b.counts[i]
			}
		}
		if d.count() > 0 {
			out[verb] = d
		}
	}
	return out
}

func (h *histogram) count() float64 { return h.counts[len(h.counts)-1] }

// quantile estimates the q-quantile as Prometheus' histogram_quantile:
// linear within the bucket it falls in; in the +Inf bucket, the highest
// finite bound.
func (h *histogram) quantile(q float64) float64 {
	n := h.count()
	if n == 0 {
		return math.NaN()
	}
	rank := q * n
	i := sort.Search(len(h.counts), func(i int) bool { return h.counts[i] >= rank })
	if i >= len(h.bounds)-1 {
		if len(h.bounds) < 2 {
			return math.NaN()
		}
		return h.bounds[len(h.bounds)-2]
	}
	lo, below := 0.0, 0.0
	if i > 0 {
		lo, below = h.bounds[i-1], h.counts[i-1]
	}
	inBucket := h.counts[i] - below
	if inBucket == 0 {
		return h.bounds[i]
	}
	return lo + (h.bounds[i]-lo)*(rank-below)/inBucket
}

// String is one line per verb: count, p50, p90, p99 in ms.
func (v verbLatencies) String() string {
	verbs := make([]string, 0, len(v))
	for verb := range v {
		verbs = append(verbs, verb)
	}
	sort.Strings(verbs)
	var b strings.Builder
	for _, verb := range verbs {
		h := v[verb]
		fmt.Fprintf(&b, "  %-8s %7s requests  p50 %s  p90 %s  p99 %s\n", verb, strconv.FormatFloat(h.count(), 'f', 0, 64),
			secondsMS(h.quantile(0.5)), secondsMS(h.quantile(0.9)), secondsMS(h.quantile(0.99)))
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func secondsMS(s float64) string {
	if math.IsNaN(s) {
		return "-"
	}
	return strconv.FormatFloat(s*1000, 'f', 1, 64) + " ms"
}
