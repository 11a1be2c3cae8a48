package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// EtcdBinary is where the Debian package etcd-server (3.4.23 on bookworm)
// installs etcd. EnsureEtcd installs it when missing.
const EtcdBinary = "/usr/bin/etcd"

// EtcdGatewayPrefix is the path prefix of etcd's v3 JSON gateway. etcd 3.4
// serves both /v3/ and the deprecated /v3beta/ (3.5 dropped /v3beta/);
// checked against the Debian 3.4.23 binary: /v3/kv/put answers 200.
const EtcdGatewayPrefix = "/v3"

// etcdStartTimeout bounds the wait for a new cluster to elect a leader and
// report healthy, unless ctx is shorter.
const etcdStartTimeout = 60 * time.Second

// etcdStopTimeout bounds Stop's wait for killed members to be reaped (a
// process in uninterruptible sleep, e.g. in fsync on a hung disk, can take
// a while to die).
const etcdStopTimeout = 30 * time.Second

// EtcdMember is one etcd process of an EtcdCluster.
type EtcdMember struct {
	Name         string
	PID          int
	PeerURL      string // http://127.0.0.1:port
	ClientURL    string // http://127.0.0.1:port
	TLSClientURL string // https://127.0.0.1:port, same member, certificate from the cluster's CA
	DataDir      string
	LogFile      string // etcd's stderr (zap logger)

	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has been reaped
	err    error         // cmd.Wait's result, valid after exited is closed
}

// EtcdCluster is a throwaway etcd cluster on loopback started by StartEtcd.
// Every member serves its client API twice, over plain HTTP (ClientURLs) and
// over HTTPS (TLSClientURLs) with a certificate from a CA generated for the
// cluster, so one cluster can be measured both ways, interleaved. Peer
// traffic is plain HTTP.
type EtcdCluster struct {
	Members []*EtcdMember

	ca       *testCA
	stopOnce sync.Once
	stopErr  error
}

// StartEtcd starts a members-member etcd cluster (3 for the benchmark) from
// EtcdBinary with etcd's defaults (fsync on, snapshot count, heartbeat
// 100 ms, election 1 s). Data directories, logs and TLS files go under dir,
// which must exist; the caller removes it after Stop. Ports are picked by
// listening on 127.0.0.1:0; a member that loses the race for its port makes
// StartEtcd try again with new ports (up to 3 attempts).
//
// StartEtcd returns when every member reports healthy and all agree on a
// leader. On error every process it started has been stopped.
func StartEtcd(ctx context.Context, dir string, members int) (*EtcdCluster, error) {
	if members < 1 {
		return nil, fmt.Errorf("etcd: members must be at least 1, got %d", members)
	}
	if _, err := os.Stat(EtcdBinary); err != nil {
		return nil, fmt.Errorf("etcd: %w (call EnsureEtcd first)", err)
	}
	ca, err := newTestCA(dir)
	if err != nil {
		return nil, fmt.Errorf("etcd: %w", err)
	}
	var lastErr error
	for attempt := 1; attempt <= 3; attempt++ {
		adir := filepath.Join(dir, fmt.Sprintf("attempt-%d", attempt))
		c, err := startEtcdOnce(ctx, adir, members, ca)
		if err == nil {
			return c, nil
		}
		lastErr = err
		if !errors.Is(err, errPortTaken) || ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

var errPortTaken = errors.New("a port was taken between picking and binding it")

func startEtcdOnce(ctx context.Context, dir string, members int, ca *testCA) (*EtcdCluster, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("etcd: %w", err)
	}
	ports, err := freePorts(3 * members)
	if err != nil {
		return nil, fmt.Errorf("etcd: pick ports: %w", err)
	}
	c := &EtcdCluster{ca: ca}
	var initial []string
	for i := range members {
		m := &EtcdMember{
			Name:         fmt.Sprintf("m%d", i),
			PeerURL:      fmt.Sprintf("http://127.0.0.1:%d", ports[3*i]),
			ClientURL:    fmt.Sprintf("http://127.0.0.1:%d", ports[3*i+1]),
			TLSClientURL: fmt.Sprintf("https://127.0.0.1:%d", ports[3*i+2]),
			DataDir:      filepath.Join(dir, fmt.Sprintf("m%d", i)),
			LogFile:      filepath.Join(dir, fmt.Sprintf("m%d.log", i)),
		}
		c.Members = append(c.Members, m)
		initial = append(initial, m.Name+"="+m.PeerURL)
	}
	token := make([]byte, 8)
	if _, err := rand.Read(token); err != nil {
		return nil, fmt.Errorf("etcd: cluster token: %w", err)
	}

	for _, m := range c.Members {
		args := []string{
			"--name", m.Name,
			"--data-dir", m.DataDir,
			"--listen-peer-urls", m.PeerURL,
			"--initial-advertise-peer-urls", m.PeerURL,
			"--listen-client-urls", m.ClientURL + "," + m.TLSClientURL,
			"--advertise-client-urls", m.ClientURL + "," + m.TLSClientURL,
			"--cert-file", ca.CertFile,
			"--key-file", ca.KeyFile,
			"--initial-cluster", strings.Join(initial, ","),
			"--initial-cluster-state", "new",
			"--initial-cluster-token", "orch-bench-" + hex.EncodeToString(token),
			"--logger", "zap",
			"--log-outputs", "stderr",
		}
		if err := m.start(args); err != nil {
			return nil, errors.Join(fmt.Errorf("etcd: start %s: %w", m.Name, err), c.Stop())
		}
	}

	wctx, cancel := context.WithTimeout(ctx, etcdStartTimeout)
	defer cancel()
	if err := c.waitHealthy(wctx); err != nil {
		return nil, errors.Join(err, c.Stop())
	}
	return c, nil
}

// freePorts reserves n distinct loopback ports by listening on 127.0.0.1:0,
// all at once so none repeats, and releases them for etcd to bind.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func (m *EtcdMember) start(args []string) error {
	if err := os.MkdirAll(filepath.Dir(m.LogFile), 0o700); err != nil {
		return err
	}
	logf, err := os.Create(m.LogFile)
	if err != nil {
		return err
	}
	defer logf.Close() // the child has its own descriptor after Start
	cmd := exec.Command(EtcdBinary, args...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.Env = etcdEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Own process group: a ^C in the terminal reaches only the
		// benchmark, which then stops the members itself, by PID.
		Setpgid: true,
		// Safety net if the benchmark dies without running Stop. It fires
		// when the thread that forked exits; Go only ends threads of
		// goroutines that exit while locked to them, which this package
		// never does.
		Pdeathsig: syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	m.cmd = cmd
	m.PID = cmd.Process.Pid
	m.exited = make(chan struct{})
	go func() {
		m.err = cmd.Wait()
		close(m.exited)
	}()
	return nil
}

// etcdEnv is the environment without ETCD_* variables, which etcd would
// otherwise read as configuration.
func etcdEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETCD_") {
			env = append(env, kv)
		}
	}
	return env
}

func (m *EtcdMember) running() bool {
	select {
	case <-m.exited:
		return false
	default:
		return true
	}
}

// logTail returns the end of the member's log, for error messages.
func (m *EtcdMember) logTail() string {
	b, err := os.ReadFile(m.LogFile)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	const max = 1500
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}

// waitHealthy polls every member's /health and the cluster's view of its
// leader until all are healthy and agree, a member exits, or ctx ends.
func (c *EtcdCluster) waitHealthy(ctx context.Context) error {
	client := &http.Client{Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		for _, m := range c.Members {
			if !m.running() {
				err := fmt.Errorf("etcd: %s (pid %d) exited during start-up: %v\n%s", m.Name, m.PID, m.err, m.logTail())
				if strings.Contains(m.logTail(), "address already in use") {
					err = fmt.Errorf("%w: %w", errPortTaken, err)
				}
				return err
			}
		}
		last = c.checkHealthy(ctx, client)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("etcd: cluster not healthy: %w (last: %v)", ctx.Err(), last)
		case <-tick.C:
		}
	}
}

func (c *EtcdCluster) checkHealthy(ctx context.Context, client *http.Client) error {
	for _, m := range c.Members {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.ClientURL+"/health", nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("%s /health: %w", m.Name, err)
		}
		var h struct {
			Health string `json:"health"`
		}
		err = json.NewDecoder(resp.Body).Decode(&h)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || h.Health != "true" {
			return fmt.Errorf("%s /health: status %d, health %q, %v", m.Name, resp.StatusCode, h.Health, err)
		}
	}
	_, err := c.leader(ctx, client)
	return err
}

// etcdStatus is the part of /v3/maintenance/status this package reads. The
// gateway writes uint64s as JSON strings and uses the proto field names.
type etcdStatus struct {
	Header struct {
		MemberID string `json:"member_id"`
	} `json:"header"`
	Leader string `json:"leader"`
}

// Leader returns the index in Members of the current leader, after checking
// that every member names the same one.
func (c *EtcdCluster) Leader(ctx context.Context) (int, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	return c.leader(ctx, client)
}

func (c *EtcdCluster) leader(ctx context.Context, client *http.Client) (int, error) {
	leaderID, leaderIdx := "", -1
	for i, m := range c.Members {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost,
			m.ClientURL+EtcdGatewayPrefix+"/maintenance/status", bytes.NewReader([]byte("{}")))
		if err != nil {
			return -1, err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return -1, fmt.Errorf("%s status: %w", m.Name, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return -1, fmt.Errorf("%s status: %w", m.Name, err)
		}
		if resp.StatusCode != http.StatusOK {
			return -1, fmt.Errorf("%s status: %s: %s", m.Name, resp.Status, body)
		}
		var st etcdStatus
		if err := json.Unmarshal(body, &st); err != nil {
			return -1, fmt.Errorf("%s status: %w: %s", m.Name, err, body)
		}
		if st.Leader == "" || st.Leader == "0" || st.Header.MemberID == "" {
			return -1, fmt.Errorf("%s status: no leader yet: %s", m.Name, body)
		}
		if leaderID == "" {
			leaderID = st.Leader
		} else if st.Leader != leaderID {
			return -1, fmt.Errorf("members disagree on the leader (%s vs %s)", leaderID, st.Leader)
		}
		if st.Header.MemberID == st.Leader {
			leaderIdx = i
		}
	}
	if leaderIdx < 0 {
		return -1, fmt.Errorf("leader %s is not one of the members", leaderID)
	}
	return leaderIdx, nil
}

// ClientURLs are the members' plain HTTP client URLs, in member order.
func (c *EtcdCluster) ClientURLs() []string {
	urls := make([]string, len(c.Members))
	for i, m := range c.Members {
		urls[i] = m.ClientURL
	}
	return urls
}

// TLSClientURLs are the members' HTTPS client URLs, in member order; use
// them with ClientTLSConfig.
func (c *EtcdCluster) TLSClientURLs() []string {
	urls := make([]string, len(c.Members))
	for i, m := range c.Members {
		urls[i] = m.TLSClientURL
	}
	return urls
}

// ClientTLSConfig returns a new client TLS config that trusts the cluster's
// CA (and nothing else).
func (c *EtcdCluster) ClientTLSConfig() *tls.Config {
	return c.ca.ClientTLSConfig()
}

// Stop kills every member with SIGKILL and waits until each has been
// reaped. The cluster is throwaway, so there is nothing to shut down
// gracefully, and a graceful stop is slow: with all members getting SIGTERM
// at once, etcd 3.4's leader tries to hand over leadership to followers that
// are leaving too, and Stop took 7 s. Signals go through os.Process (a pidfd
// on Linux), so a reaped member's PID, if reused, is never signalled. Stop is
// safe to call more than once; later calls return the first result. The
// data directories are left for the caller to remove.
func (c *EtcdCluster) Stop() error {
	c.stopOnce.Do(func() {
		var errs []error
		for _, m := range c.Members {
			if m.cmd == nil || !m.running() {
				continue
			}
			if err := m.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
				errs = append(errs, fmt.Errorf("etcd: kill %s (pid %d): %w", m.Name, m.PID, err))
			}
		}
		timeout := time.NewTimer(etcdStopTimeout)
		defer timeout.Stop()
		expired := false
		for _, m := range c.Members {
			if m.cmd == nil {
				continue
			}
			if !expired {
				select {
				case <-m.exited:
					continue
				case <-timeout.C:
					expired = true
				}
			}
			if m.running() {
				errs = append(errs, fmt.Errorf("etcd: %s (pid %d) not reaped %v after SIGKILL", m.Name, m.PID, etcdStopTimeout))
			}
		}
		c.stopErr = errors.Join(errs...)
	})
	return c.stopErr
}
