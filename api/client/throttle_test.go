package client

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
)

// throttledHandler answers the first n requests 429 with retryAfter (none
// when empty), then as podHandler does.
func throttledHandler(n int32, retryAfter string, hits *atomic.Int32) http.Handler {
	var seen atomic.Int32
	next := podHandler(hits)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if seen.Add(1) <= n {
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}
			writeStatus(w, &v1.StatusError{Status: v1.Status{Status: "Failure", Code: http.StatusTooManyRequests,
				Reason: v1.ReasonTooManyRequests, Message: "too many requests, please try again later"}})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func TestThrottledRequestsAreSentAgain(t *testing.T) {
	for _, tc := range []struct {
		name       string
		throttled  int32
		retryAfter string
		wantErr    bool
		wantPosts  int32 // requests that reached the pod handler
	}{
		{"a write turned away twice is sent a third time", 2, "0", false, 1},
		{"the server's pause is honoured", 1, "1", false, 1},
		{"a 429 without Retry-After is an answer", 1, "", true, 0},
		{"a bad Retry-After is an answer", 1, "soon", true, 0},
		{"at most MaxThrottleRetries times", MaxThrottleRetries + 1, "0", true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hits atomic.Int32
			srv := httptest.NewTLSServer(throttledHandler(tc.throttled, tc.retryAfter, &hits))
			defer srv.Close()
			c := newTestClient(t, srv, srv.URL)
			start := time.Now()
			out := testPod("web", "")
			err := c.Create(testCtx(t), out)
			if tc.wantErr {
				if !(v1.ReasonOf(err) == v1.ReasonTooManyRequests) {
					t.Fatalf("got %v, want the 429", err)
				}
			} else if err != nil || out.UID != "uid-1" {
				t.Fatalf("create: %v (%+v)", err, out.ObjectMeta)
			}
			if hits.Load() != tc.wantPosts {
				t.Fatalf("%d requests reached the handler, want %d", hits.Load(), tc.wantPosts)
			}
			if tc.retryAfter == "1" && time.Since(start) < time.Second {
				t.Fatalf("sent again after %v, before the Retry-After of 1 s", time.Since(start))
			}
		})
	}
}

func TestThrottleWaitEndsWithTheContext(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewTLSServer(throttledHandler(100, "10", &hits))
	defer srv.Close()
	c := newTestClient(t, srv, srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := c.Create(ctx, testPod("web", ""))
	if !(v1.ReasonOf(err) == v1.ReasonTooManyRequests) || hits.Load() != 0 {
		t.Fatalf("got %v after %d requests, want the 429 once the context ended", err, hits.Load())
	}
}
