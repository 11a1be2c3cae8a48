package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/pki"
	"orch.io/orch/test/harness"
)

// Issue 13, done-when 4b: a master certificate with a foreign name is
// refused by the other masters. Three masters from the harness, each with
// its own certificate; a certificate for "mallory", signed by the cluster
// CA as a master's, is refused on every master's Raft transport and
// internal endpoint; and something at m2's Raft address presenting m1's
// certificate is refused by the masters that dial it.
func TestMasterCertificateWithForeignNameRefused(t *testing.T) {
	parallel(t)
	c := startCluster(t, harness.Options{})
	orchd := func(args ...string) {
		t.Helper()
		out, err := exec.Command(bins.Orchd, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("orchd %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	orchd("pki", "issue", "master", "mallory", "--dir", c.PKIDir, "--hosts", "127.0.0.1")
	mallory := loadPair(t, c.PKIDir, "mallory")
	m1 := loadPair(t, c.PKIDir, "m1")
	ca := loadCAPool(t, c.PKIDir)

	// Raft: mallory's handshake is refused by each master; m1's is not,
	// so the refusal is about the name.
	for i, m := range c.Masters {
		if err := raftHandshake(m.RaftAddr, mallory, ca); err == nil {
			t.Errorf("master %s accepted mallory's certificate on its Raft transport", m.Name)
		} else {
			t.Logf("%s refused mallory on raft: %v", m.Name, err)
		}
		if i != 0 {
			if err := raftHandshake(m.RaftAddr, m1, ca); err != nil {
				t.Errorf("master %s refused m1's certificate on its Raft transport: %v", m.Name, err)
			}
		}
	}
	// The internal endpoint: 403 for mallory, an answer for m1.
	for _, m := range c.Masters {
		if code, body := internalReadIndex(t, m.APIAddr, mallory, ca); code != http.StatusForbidden {
			t.Errorf("master %s: readindex with mallory's certificate: HTTP %d, want 403: %s", m.Name, code, body)
		} else if !strings.Contains(body, `mallory\" names no server of the raft configuration`) {
			t.Errorf("master %s: refusal does not say why: %s", m.Name, body)
		}
		if code, body := internalReadIndex(t, m.APIAddr, m1, ca); code != http.StatusOK && code != http.StatusServiceUnavailable {
			t.Errorf("master %s: readindex with m1's certificate: HTTP %d, want 200 or 503 (not the leader): %s", m.Name, code, body)
		}
	}

	// Something at m2's Raft address presenting m1's certificate (then
	// mallory's): the masters that dial m2 refuse it.
	c.Stop(1)
	c.WaitLeader(30 * time.Second)
	for _, pair := range []struct {
		name string
		cert tls.Certificate
	}{{"m1", m1}, {"mallory", mallory}} {
		imp := startImpostor(t, c.Masters[1].RaftAddr, pair.cert)
		eventually(t, 20*time.Second, "a master dials m2's address and refuses "+pair.name+"'s certificate", func() error {
			if ok, refused := imp.counts(); ok+refused == 0 {
				return fmt.Errorf("no handshake yet (last error %v)", imp.lastErr())
			}
			return nil
		})
		imp.close()
		ok, refused := imp.counts()
		if ok != 0 || refused == 0 {
			t.Fatalf("impostor with %s's certificate at m2's address: %d handshakes completed, %d refused; want 0 and some (last error %v)",
				pair.name, ok, refused, imp.lastErr())
		}
		t.Logf("impostor with %s's certificate: %d handshakes refused (%v)", pair.name, refused, imp.lastErr())
	}
	c.Start(1)
	eventually(t, 30*time.Second, "m2 back in the cluster after the impostors", func() error {
		_, err := c.Client(1).Members(ctxT(t, 2*time.Second))
		return err
	})
	if err := c.Client(1).Create(ctxT(t, 10*time.Second), namespaceObject("after-impostor")); err != nil {
		t.Fatalf("write through m2 after it came back: %v", err)
	}
}

// TestMasterCertificateRenewalAndOfflineCA: a master's certificate renewed
// with `orchd pki renew` is served without a restart and shows in
// orch_certificate_expiry_seconds; a master starts and runs with no
// ca.key in its PKI directory, and warns at start about a certificate
// that expires within 30 days.
func TestMasterCertificateRenewalAndOfflineCA(t *testing.T) {
	parallel(t)
	c := startCluster(t, harness.Options{})
	ca := loadCAPool(t, c.PKIDir)
	before := servedSerial(t, c.Masters[0].APIAddr, ca)
	if v := certificateExpiry(t, c, 0, "master"); v < 364*24*3600 {
		t.Fatalf("orch_certificate_expiry_seconds{certificate=master} = %v before renewal, want about a year", v)
	}
	out, err := exec.Command(bins.Orchd, "pki", "renew", "master", "m1", "--dir", c.PKIDir, "--validity", "240h").CombinedOutput()
	if err != nil {
		t.Fatalf("orchd pki renew: %v\n%s", err, out)
	}
	renewed := loadPair(t, c.PKIDir, "m1").Leaf.SerialNumber.String()
	if got := servedSerial(t, c.Masters[0].APIAddr, ca); got != renewed || got == before {
		t.Fatalf("m1 serves certificate %s after renewal, want the renewed %s (was %s)", got, renewed, before)
	}
	if v := certificateExpiry(t, c, 0, "master"); v > 240*3600 || v < 239*3600 {
		t.Fatalf("orch_certificate_expiry_seconds{certificate=master} = %v after renewal, want about 240h", v)
	}
	if v := certificateExpiry(t, c, 0, "ca"); v < 9*365*24*3600 {
		t.Fatalf("orch_certificate_expiry_seconds{certificate=ca} = %v", v)
	}
	// m1 and its peers keep working with the renewed certificate: a write
	// through each master (followers forward to the leader).
	for i := range c.Masters {
		if err := c.Client(i).Create(ctxT(t, 10*time.Second), namespaceObject(fmt.Sprintf("renewed-%d", i))); err != nil {
			t.Fatalf("write through %s after m1's renewal: %v", c.Masters[i].Name, err)
		}
	}

	// The root key goes offline: masters restart without it.
	if err := os.Rename(filepath.Join(c.PKIDir, pki.CAKey), filepath.Join(t.TempDir(), pki.CAKey)); err != nil {
		t.Fatal(err)
	}
	for i := range c.Masters {
		c.Stop(i)
		c.Start(i)
		c.WaitLeader(30 * time.Second)
	}
	for i := range c.Masters {
		if err := c.Client(i).Create(ctxT(t, 10*time.Second), namespaceObject(fmt.Sprintf("offline-ca-%d", i))); err != nil {
			t.Fatalf("write through %s without ca.key: %v", c.Masters[i].Name, err)
		}
	}
	log, err := os.ReadFile(c.Masters[0].LogPath)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`certificate expires soon.*certificate=master`).Match(log) {
		t.Fatalf("m1's log has no expiry warning for its 240h certificate")
	}
	if regexp.MustCompile(`certificate expires soon.*certificate=master`).Match(readFile(t, c.Masters[1].LogPath)) {
		t.Fatalf("m2 warns about its one-year certificate")
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func namespaceObject(name string) *v1.Namespace {
	return &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: name}}
}

func loadPair(t *testing.T, dir, name string) tls.Certificate {
	t.Helper()
	p, err := tls.LoadX509KeyPair(filepath.Join(dir, pki.MasterCertFile(name)), filepath.Join(dir, pki.MasterKeyFile(name)))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func loadCAPool(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(readFile(t, filepath.Join(dir, pki.CACert))) {
		t.Fatal("no CA certificate")
	}
	return pool
}

// raftHandshake connects to a Raft transport with cert and reports whether
// the master refused it. With TLS 1.3 the server checks the client's
// certificate after the client finished its side, so a refusal shows as
// an alert on the first read; an accepted connection just waits for an
// RPC, and the read times out.
func raftHandshake(addr string, cert tls.Certificate, ca *x509.CertPool) error {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
		&tls.Config{RootCAs: ca, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}})
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(time.Second))
	_, err = conn.Read(make([]byte, 1))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil
	}
	if err == nil {
		return errors.New("the Raft transport sent data unasked")
	}
	return err
}

// internalReadIndex calls a master's internal readindex endpoint with cert.
func internalReadIndex(t *testing.T, apiAddr string, cert tls.Certificate, ca *x509.CertPool) (int, string) {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca, MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := hc.Post("https://"+apiAddr+"/orch/v1/internal/readindex", "application/octet-stream", bytes.NewReader(nil))
	if err != nil {
		t.Fatalf("POST readindex to %s: %v", apiAddr, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// servedSerial returns the serial of the certificate a master's API serves.
func servedSerial(t *testing.T, apiAddr string, ca *x509.CertPool) string {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", apiAddr,
		&tls.Config{RootCAs: ca, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("dial %s: %v", apiAddr, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// certificateExpiry reads orch_certificate_expiry_seconds{certificate=which}
// from master i.
func certificateExpiry(t *testing.T, c *harness.Cluster, i int, which string) float64 {
	t.Helper()
	var raw []byte
	if err := c.Client(i).Do(ctxT(t, 5*time.Second), "GET", "/metrics", nil, nil, &raw); err != nil {
		t.Fatalf("metrics of %s: %v", c.Masters[i].Name, err)
	}
	prefix := `orch_certificate_expiry_seconds{certificate="` + which + `"} `
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("%s has no %s... sample", c.Masters[i].Name, prefix)
	return 0
}

// impostor listens at a master's Raft address with another certificate
// and counts the handshakes of the masters that dial it.
type impostor struct {
	ln net.Listener
	wg sync.WaitGroup
	mu sync.Mutex
	// ok counts connections that went past the handshake, refused those
	// the dialer ended with an alert; other failures count in neither.
	ok, refused int
	err         error
}

func startImpostor(t *testing.T, addr string, cert tls.Certificate) *impostor {
	t.Helper()
	var ln net.Listener
	eventually(t, 10*time.Second, "listen at "+addr, func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	})
	imp := &impostor{ln: ln}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAnyClientCert, MinVersion: tls.VersionTLS12}
	imp.wg.Add(1)
	go func() {
		defer imp.wg.Done()
		for {
			raw, err := ln.Accept()
			if err != nil {
				return
			}
			imp.wg.Add(1)
			go func() {
				defer imp.wg.Done()
				defer raw.Close()
				conn := tls.Server(raw, cfg)
				conn.SetDeadline(time.Now().Add(5 * time.Second))
				err := conn.Handshake()
				if err == nil {
					// With TLS 1.3 a client refuses the server's certificate
					// before sending its Finished: a completed handshake
					// that is then refused still shows on the first read.
					_, err = conn.Read(make([]byte, 1))
				}
				imp.mu.Lock()
				defer imp.mu.Unlock()
				switch {
				case err == nil || isTimeout(err):
					imp.ok++
				case strings.Contains(err.Error(), "remote error: tls:"):
					imp.refused++
					imp.err = err
				default:
					imp.err = err
				}
			}()
		}
	}()
	t.Cleanup(imp.close)
	return imp
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (i *impostor) counts() (ok, refused int) {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.ok, i.refused
}

func (i *impostor) lastErr() error {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.err
}

func (i *impostor) close() {
	i.ln.Close()
	i.wg.Wait()
}
