package bench

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"os"
	"testing"
	"time"
)

// TestEtcdCluster starts a real 3-member cluster (installing Debian's etcd
// the way `make bench` does when it is missing), writes through both
// listeners with EtcdPut, checks the gateway paths the package relies on,
// and checks that Stop leaves no process behind.
func TestEtcdCluster(t *testing.T) {
	if err := EnsureEtcd(); err != nil {
		t.Fatalf("install etcd: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t0 := time.Now()
	c, err := StartEtcd(ctx, t.TempDir(), 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("healthy in %v", time.Since(t0))
	defer func() {
		t0 := time.Now()
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
		t.Logf("stopped in %v", time.Since(t0))
		for _, m := range c.Members {
			if m.running() {
				t.Errorf("%s (pid %d) still running after Stop", m.Name, m.PID)
			}
			// The os.Process is done, so signalling it is refused rather
			// than reaching a reused PID.
			if err := m.cmd.Process.Signal(os.Interrupt); !errors.Is(err, os.ErrProcessDone) {
				t.Errorf("%s: signal after Stop: %v, want ErrProcessDone", m.Name, err)
			}
		}
	}()

	if _, err := c.Leader(ctx); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		cfg  EtcdPutConfig
	}{
		{"http", EtcdPutConfig{URLs: c.ClientURLs(), ValueSize: 1024, Clients: 3}},
		{"https", EtcdPutConfig{URLs: c.TLSClientURLs(), TLS: c.ClientTLSConfig(), ValueSize: 1024, Clients: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewEtcdPut(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			for w := range 3 { // one put through each member
				if err := p.Op(ctx, w, 0); err != nil {
					t.Fatalf("put via member %d: %v", w, err)
				}
			}
			// Read one key back through another member: the put landed.
			key := base64.StdEncoding.EncodeToString([]byte(p.prefix + "0/0"))
			reply := post(ctx, t, p.client, tc.cfg.URLs[1]+EtcdGatewayPrefix+"/kv/range", `{"key":"`+key+`"}`)
			if !bytes.Contains(reply, []byte(`"count":"1"`)) {
				t.Fatalf("range of the written key: %s", reply)
			}
		})
	}

	// etcd 3.4 also serves the deprecated /v3beta prefix; /v3 is the one
	// that survives into 3.5.
	client := &http.Client{Timeout: 5 * time.Second}
	post(ctx, t, client, c.ClientURLs()[0]+"/v3beta/kv/range", `{"key":"AA=="}`)
}

func post(ctx context.Context, t *testing.T, client *http.Client, url, body string) []byte {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %s: %s", url, resp.Status, b)
	}
	return b
}
