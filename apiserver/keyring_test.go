package apiserver

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	v1 "orch.io/orch/api/v1"
)

// fakeKeyring records the operations it is asked for.
type fakeKeyring struct{ ops []string }

func (f *fakeKeyring) KeyringOp(_ context.Context, op, key string) (*v1.GossipKeyringResponse, error) {
	f.ops = append(f.ops, op+" "+key)
	if key == "refused" {
		return nil, v1.NewInvalid("GossipKeyring", "", []v1.StatusCause{{Field: "key", Message: "key: Invalid value"}})
	}
	return &v1.GossipKeyringResponse{NumMembers: 1, NumResponses: 1}, nil
}

func TestKeyringHandler(t *testing.T) {
	tests := []struct {
		name       string
		noKeyring  bool
		method     string
		op         string
		body       string
		wantCode   int
		wantOp     string // the operation the keyring ran; "" for none
		wantReason string
	}{
		{name: "admin lists", method: "GET", wantCode: 200, wantOp: "list "},
		{name: "admin installs", method: "POST", op: "install", body: `{"key":"k"}`, wantCode: 200, wantOp: "install k"},
		{name: "admin uses", method: "POST", op: "use", body: `{"key":"k"}`, wantCode: 200, wantOp: "use k"},
		{name: "admin removes", method: "POST", op: "remove", body: `{"key":"k"}`, wantCode: 200, wantOp: "remove k"},
		{name: "no gossip on this master", noKeyring: true, method: "GET", wantCode: 404, wantReason: v1.ReasonNotFound},
		{name: "unknown operation", method: "POST", op: "rotate", body: `{"key":"k"}`, wantCode: 404, wantReason: v1.ReasonNotFound},
		{name: "unknown field", method: "POST", op: "install", body: `{"key":"k","force":true}`, wantCode: 400, wantReason: v1.ReasonBadRequest},
		{name: "no key", method: "POST", op: "install", body: `{}`, wantCode: 422, wantReason: v1.ReasonInvalid},
		{name: "empty body", method: "POST", op: "install", body: ``, wantCode: 400, wantReason: v1.ReasonBadRequest},
		{name: "too large", method: "POST", op: "install", body: `{"key":"` + strings.Repeat("k", 2000) + `"}`, wantCode: 413},
		{name: "refused by the keyring", method: "POST", op: "use", body: `{"key":"refused"}`, wantCode: 422, wantOp: "use refused", wantReason: v1.ReasonInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kr := &fakeKeyring{}
			var k Keyring = kr
			if tt.noKeyring {
				k = nil
			}
			mux := http.NewServeMux()
			h := KeyringHandler(k, 1024)
			mux.Handle("GET /orch/v1/gossip/keyring", h)
			mux.Handle("POST /orch/v1/gossip/keyring/{op}", h)
			path := "/orch/v1/gossip/keyring"
			if tt.op != "" {
				path += "/" + tt.op
			}
			req := httptest.NewRequest(tt.method, path, strings.NewReader(tt.body))
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, req)
			if rec.Code != tt.wantCode {
				t.Fatalf("code %d, want %d: %s", rec.Code, tt.wantCode, rec.Body)
			}
			if tt.wantReason != "" {
				var st v1.Status
				if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || st.Reason != tt.wantReason {
					t.Fatalf("status %+v (%v), want reason %s", st, err, tt.wantReason)
				}
			}
			var ran string
			if len(kr.ops) > 0 {
				ran = kr.ops[0]
			}
			if ran != tt.wantOp || len(kr.ops) > 1 {
				t.Fatalf("keyring ran %q, want %q", kr.ops, tt.wantOp)
			}
		})
	}
}
