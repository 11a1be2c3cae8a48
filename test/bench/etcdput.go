package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// EtcdPut is a benchmark operation that writes one new key per call through
// etcd's v3 JSON gateway: POST <url>/v3/kv/put with {"key","value"} in
// base64, over HTTP/1.1 keep-alive connections (plain or TLS).
//
// We drive etcd through HTTP+JSON on purpose, because orch's API is
// HTTPS+JSON and the point is to compare like with like. etcd's native gRPC
// client (clientv3, one HTTP/2 connection multiplexing protobuf requests)
// would be somewhat faster: every gateway request is decoded from JSON,
// re-sent to the member's own gRPC server over loopback and the reply
// re-encoded. The figures are therefore etcd-through-its-gateway, not etcd's
// best case. Over HTTPS it is worse still: each member's gateway holds a
// connection to its own client listener (seen with ss: one to the http
// listener, one to the https one), so the internal gRPC hop behind an https
// listener is TLS too and every HTTPS put pays TLS twice.
type EtcdPut struct {
	urls   []string
	client *http.Client
	prefix string // base for this instance's keys, unique per instance
	value  []byte // `","value":"<base64 value>"}`, shared by every request
}

// EtcdPutConfig configures NewEtcdPut.
type EtcdPutConfig struct {
	// URLs are client URLs; worker w talks to URLs[w%len(URLs)]. Pass every
	// member's URL to spread the load as etcd clients usually do (followers
	// forward proposals to the leader through raft), or only the leader's.
	URLs []string
	// TLS is the client TLS config for https URLs (see
	// EtcdCluster.ClientTLSConfig); nil for plain http.
	TLS *tls.Config
	// ValueSize is the size of each value in bytes (before base64).
	ValueSize int
	// Clients sizes the keep-alive pool: one idle connection per worker.
	Clients int
	// Timeout bounds one request (default 30 s).
	Timeout time.Duration
}

// NewEtcdPut builds the operation. Keys are "/orch-bench/<random>/<worker>/<seq>",
// so every call of every instance writes a distinct key.
func NewEtcdPut(cfg EtcdPutConfig) (*EtcdPut, error) {
	if len(cfg.URLs) == 0 {
		return nil, fmt.Errorf("etcd put: no URLs")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	value := make([]byte, cfg.ValueSize)
	if _, err := rand.Read(value); err != nil {
		return nil, fmt.Errorf("etcd put: value: %w", err)
	}
	id := make([]byte, 6)
	if _, err := rand.Read(id); err != nil {
		return nil, fmt.Errorf("etcd put: key prefix: %w", err)
	}
	tr := &http.Transport{
		TLSClientConfig:     cfg.TLS,
		MaxIdleConns:        0, // no global limit
		MaxIdleConnsPerHost: max(cfg.Clients, 2),
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		// A non-nil empty map keeps TLS connections on HTTP/1.1, as with
		// plain http, instead of negotiating HTTP/2.
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{},
	}
	return &EtcdPut{
		urls:   cfg.URLs,
		client: &http.Client{Transport: tr, Timeout: cfg.Timeout},
		prefix: "/orch-bench/" + hex.EncodeToString(id) + "/",
		value:  []byte(`","value":"` + base64.StdEncoding.EncodeToString(value) + `"}`),
	}, nil
}

// Op writes key <prefix><worker>/<seq>. It has the signature Run wants.
func (p *EtcdPut) Op(ctx context.Context, worker, seq int) error {
	url := p.urls[worker%len(p.urls)] + EtcdGatewayPrefix + "/kv/put"

	key := strconv.AppendInt([]byte(p.prefix), int64(worker), 10)
	key = append(key, '/')
	key = strconv.AppendInt(key, int64(seq), 10)
	body := make([]byte, 0, len(`{"key":"`)+base64.StdEncoding.EncodedLen(len(key))+len(p.value))
	body = append(body, `{"key":"`...)
	body = base64.StdEncoding.AppendEncode(body, key)
	body = append(body, p.value...)

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	// Read the whole reply so the connection goes back to the pool.
	reply, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return fmt.Errorf("etcd put: read reply: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("etcd put: %s: %s", resp.Status, bytes.TrimSpace(reply))
	}
	// A put's reply is {"header":{...}}; an error would carry "error"/"code".
	if !bytes.Contains(reply, []byte(`"header"`)) {
		return fmt.Errorf("etcd put: unexpected reply: %s", reply)
	}
	return nil
}

// Close releases the idle connections.
func (p *EtcdPut) Close() {
	p.client.CloseIdleConnections()
}
