package apiserver

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
)

// countingCertAuth accepts leaves whose raw bytes start with "ok" as the
// user named by the rest, refuses the others, and counts its calls.
type countingCertAuth struct{ calls int }

func (c *countingCertAuth) AuthenticateRequest(r *http.Request) (*authenticator.Response, bool, error) {
	c.calls++
	if r.TLS == nil {
		return nil, false, nil
	}
	raw := string(r.TLS.PeerCertificates[0].Raw)
	if len(raw) < 2 || raw[:2] != "ok" {
		return nil, false, errors.New("verifying certificate failed")
	}
	return &authenticator.Response{User: &user.DefaultInfo{Name: raw[2:]}}, true, nil
}

func TestCertAuthCache(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	req := func(raw string, notAfter time.Time) *http.Request {
		return &http.Request{TLS: &tls.ConnectionState{PeerCertificates: []*x509.Certificate{{Raw: []byte(raw), NotAfter: notAfter}}}}
	}
	far := now.Add(24 * time.Hour)
	tests := []struct {
		name      string
		steps     []string // "raw@seconds", in order
		notAfter  time.Time
		wantCalls int
		wantUser  string // of the last step; "" for refused
	}{
		{"verified once for many requests", []string{"okalice@0", "okalice@1", "okalice@59"}, far, 1, "alice"},
		{"verified again after the TTL", []string{"okalice@0", "okalice@60"}, far, 2, "alice"},
		{"never trusted past the leaf's expiry", []string{"okalice@0", "okalice@10"}, now.Add(5 * time.Second), 2, "alice"},
		{"another chain is verified on its own", []string{"okalice@0", "okbob@1"}, far, 2, "bob"},
		{"a refusal is not remembered", []string{"bad@0", "bad@1"}, far, 2, ""},
		{"a refused chain after an accepted one", []string{"okalice@0", "bad@1"}, far, 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := &countingCertAuth{}
			clock := now
			c := newCertAuthCache(next, func() time.Time { return clock })
			var resp *authenticator.Response
			var ok bool
			for _, s := range tt.steps {
				raw, at, _ := strings.Cut(s, "@")
				secs, _ := strconv.Atoi(at)
				clock = now.Add(time.Duration(secs) * time.Second)
				resp, ok, _ = c.AuthenticateRequest(req(raw, tt.notAfter))
			}
			if next.calls != tt.wantCalls {
				t.Errorf("verified %d times, want %d", next.calls, tt.wantCalls)
			}
			got := ""
			if ok {
				got = resp.User.GetName()
			}
			if got != tt.wantUser {
				t.Errorf("user %q, want %q", got, tt.wantUser)
			}
		})
	}
	// The cached answer is a copy: a caller replacing its User (the
	// authenticated group adder does) changes no other request's.
	next := &countingCertAuth{}
	c := newCertAuthCache(next, func() time.Time { return now })
	first, _, _ := c.AuthenticateRequest(req("okalice", now.Add(time.Hour)))
	first.User = &user.DefaultInfo{Name: "mallory"}
	second, _, _ := c.AuthenticateRequest(req("okalice", now.Add(time.Hour)))
	if second.User.GetName() != "alice" || next.calls != 1 {
		t.Errorf("second answer %q after %d verifications", second.User.GetName(), next.calls)
	}
	// Without a client certificate the request goes to the next authenticator.
	if _, ok, _ := c.AuthenticateRequest(&http.Request{}); ok {
		t.Error("a request without TLS authenticated")
	}
}
