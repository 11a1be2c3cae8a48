package client

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	v1 "orch.io/orch/api/v1"
)

// TestWarningHandler: the warnings of an answer, success or error, reach
// the handler once each, in order; other warning codes and malformed
// headers are skipped.
func TestWarningHandler(t *testing.T) {
	tests := []struct {
		name    string
		headers []string
		code    int
		want    []string
	}{
		{name: "none", code: 201},
		{name: "pod security", code: 201, headers: []string{`299 - "would violate PodSecurity \"restricted:latest\": seccompProfile"`},
			want: []string{`would violate PodSecurity "restricted:latest": seccompProfile`}},
		{name: "several in one header and in two", code: 201, headers: []string{`299 - "a", 299 - "b"`, `299 - "c"`}, want: []string{"a", "b", "c"}},
		{name: "with an error", code: 403, headers: []string{`299 - "w"`}, want: []string{"w"}},
		{name: "other code and garbage", code: 201, headers: []string{`199 - "old"`, `nonsense`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for _, h := range tt.headers {
					w.Header().Add("Warning", h)
				}
				if tt.code != 201 {
					writeStatus(w, v1.NewForbidden("no"))
					return
				}
				writeJSON(w, 201, testPod("p", "1"))
			}))
			defer srv.Close()
			var got []string
			cfg := testConfig(t, srv, srv.URL)
			cfg.WarningHandler = func(text string) { got = append(got, text) }
			c, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseIdleConnections()
			err = c.Create(testCtx(t), testPod("p", ""))
			if (err != nil) != (tt.code != 201) {
				t.Fatalf("create: %v", err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("warnings %q, want %q", got, tt.want)
			}
		})
	}
}
