package main

import (
	"bytes"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/api/v1/v1test"
)

func TestQuotaTables(t *testing.T) {
	created := ago(50 * time.Hour)
	q := &v1.ResourceQuota{ObjectMeta: v1.ObjectMeta{Name: "compute", CreationTimestamp: created},
		Spec: v1.ResourceQuotaSpec{Hard: v1test.Resources("pods", "10", "requests.cpu", "2", "limits.memory", "1Gi")},
		Status: v1.ResourceQuotaStatus{Hard: v1test.Resources("pods", "10", "requests.cpu", "2", "limits.memory", "1Gi"),
			Used: v1test.Resources("pods", "3", "requests.cpu", "750m", "limits.memory", "512Mi")}}
	lr := &v1.LimitRange{ObjectMeta: v1.ObjectMeta{Name: "limits",
		CreationTimestamp: v1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))}}
	tests := []struct {
		res     string
		obj     v1.Object
		headers string
		want    []string
	}{
		{"quota", q, "NAME AGE REQUEST LIMIT", []string{"compute", "2d2h", "pods: 3/10, requests.cpu: 750m/2", "limits.memory: 512Mi/1Gi"}},
		{"limits", lr, "NAME CREATED AT", []string{"limits", "2026-01-02T03:04:05Z"}},
	}
	for _, tt := range tests {
		r := mustResource(tt.res)
		o := tableOptions{now: testNow}
		if got := tableRow(r, tt.obj, o); strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("%s row = %q, want %q", tt.res, got, tt.want)
		}
		if h := strings.Join(tableHeaders(r, o), " "); h != tt.headers {
			t.Errorf("%s headers = %q, want %q", tt.res, h, tt.headers)
		}
	}
}

func TestDescribeQuotaAndLimitRange(t *testing.T) {
	tests := []struct {
		name string
		fn   func(d *descWriter)
		want string
	}{
		{"quota", func(d *descWriter) {
			describeQuota(d, &v1.ResourceQuota{ObjectMeta: v1.ObjectMeta{Name: "compute", Namespace: "team"},
				Spec: v1.ResourceQuotaSpec{Scopes: []v1.ResourceQuotaScope{v1.QuotaScopeNotTerminating}},
				Status: v1.ResourceQuotaStatus{Hard: v1test.Resources("pods", "10", "limits.cpu", "2", "requests.memory", "1Gi"),
					Used: v1test.Resources("pods", "3", "limits.cpu", "1500m", "requests.memory", "0")}})
		}, `Name:       compute
Namespace:  team
Scopes:     NotTerminating
 * Matches all pods that do not have an active deadline. These pods usually include long running pods whose container command is not expected to terminate.
Resource         Used   Hard
--------         ----   ----
limits.cpu       1500m  2
pods             3      10
requests.memory  0      1Gi
`},
		{"limitrange", func(d *descWriter) {
			describeLimitRange(d, &v1.LimitRange{ObjectMeta: v1.ObjectMeta{Name: "limits", Namespace: "team"},
				Spec: v1.LimitRangeSpec{Limits: []v1.LimitRangeItem{
					{Type: v1.LimitTypeContainer, Max: v1test.Resources("cpu", "2"), Default: v1test.Resources("cpu", "500m"), DefaultRequest: v1test.Resources("cpu", "250m", "memory", "64Mi")},
					{Type: v1.LimitTypePod, Max: v1test.Resources("memory", "1Gi")},
				}}})
		}, `Name:       limits
Namespace:  team
Type        Resource  Min  Max  Default Request  Default Limit  Max Limit/Request Ratio
----        --------  ---  ---  ---------------  -------------  -----------------------
Container   cpu       -    2    250m             500m           -
Container   memory    -    -    64Mi             -              -
Pod         memory    -    1Gi  -                -              -
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			d := &descWriter{tw: tabwriter.NewWriter(&buf, 0, 8, 2, ' ', 0)}
			tt.fn(d)
			d.tw.Flush()
			if buf.String() != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", buf.String(), tt.want)
			}
		})
	}
}
