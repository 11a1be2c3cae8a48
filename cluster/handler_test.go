package cluster

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/pki"
)

// signedClientCert returns a client certificate for organization org,
// signed by the CA in the PKI directory dir.
func signedClientCert(t *testing.T, dir, org string) tls.Certificate {
	t.Helper()
	pemBlock := func(name string) []byte {
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := pem.Decode(raw)
		if b == nil {
			t.Fatalf("%s holds no PEM block", name)
		}
		return b.Bytes
	}
	ca, err := x509.ParseCertificate(pemBlock(pki.CACert))
	if err != nil {
		t.Fatal(err)
	}
	caKey, err := x509.ParseECPrivateKey(pemBlock(pki.CAKey))
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "node-1", Organization: []string{org}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// masterClientTLS issues (if needed) master name's certificate in the PKI
// directory dir and returns a client configuration presenting it.
func masterClientTLS(t *testing.T, dir, name string) *tls.Config {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, pki.MasterCertFile(name))); err != nil {
		if err := pki.IssueMaster(pki.IssueMasterOptions{Dir: dir, Name: name, Hosts: []string{"127.0.0.1"}}); err != nil {
			t.Fatal(err)
		}
	}
	b, err := pki.LoadMaster(dir, name)
	if err != nil {
		t.Fatal(err)
	}
	c, err := b.PeerClientTLS()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// signerClientTLS returns a client configuration presenting a certificate
// shaped like master name's (O orch:masters, ServerAuth) but issued by the
// client signer, an intermediate of the cluster CA, with the chain.
func signerClientTLS(t *testing.T, dir, name string) *tls.Config {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, pki.SignerCert)); err != nil {
		if err := pki.IssueSigner(dir, 0); err != nil {
			t.Fatal(err)
		}
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, pki.SignerCert), filepath.Join(dir, pki.SignerKey))
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name, Organization: []string{pki.MasterOrganization}},
		DNSNames:     []string{name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, pair.Leaf, &key.PublicKey, pair.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	b, err := pki.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{RootCAs: b.CAPool, MinVersion: tls.VersionTLS12,
		Certificates: []tls.Certificate{{Certificate: [][]byte{der, pair.Certificate[0]}, PrivateKey: key}}}
}

func httpsClient(t *testing.T, cfg *tls.Config) *http.Client {
	tr := &http.Transport{TLSClientConfig: cfg}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func post(t *testing.T, hc *http.Client, addr, path string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, "https://"+addr+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST %s: read body: %v", path, err)
	}
	return resp.StatusCode, b
}

func decodeStatus(t *testing.T, b []byte) v1.Status {
	t.Helper()
	var st v1.Status
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("answer is not a Status: %v: %s", err, b)
	}
	return st
}

func TestInternalEndpointsNeedMasterCertificate(t *testing.T) {
	g := NewTestGroup(t, 3, TestOptions{RaftTimeout: steadyRaftTimeout})
	leader := g.WaitLeader(t)
	follower := g.Followers(leader)[0]
	ns := newNamespace("internal")
	frames := binary.AppendUvarint(nil, uint64(len(createCmd(t, ns))))
	frames = append(frames, createCmd(t, ns)...)

	for _, tc := range []struct {
		name string
		tls  *tls.Config
	}{
		{"CA only", &tls.Config{RootCAs: g.Bundle.CAPool, MinVersion: tls.VersionTLS12}},
		{"non-master certificate", &tls.Config{RootCAs: g.Bundle.CAPool, MinVersion: tls.VersionTLS12,
			Certificates: []tls.Certificate{signedClientCert(t, g.Bundle.Dir, "orch:nodes")}}},
		{"master certificate of a name not in the raft configuration", masterClientTLS(t, g.Bundle.Dir, "mallory")},
		{"master-looking certificate from the client signer", signerClientTLS(t, g.Bundle.Dir, "m2")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hc := httpsClient(t, tc.tls)
			for _, path := range []string{applyPath, applyStreamPath, readIndexPath} {
				code, b := post(t, hc, leader.APIAddr, path, frames)
				if code != http.StatusForbidden {
					t.Fatalf("POST %s: HTTP %d, want 403: %s", path, code, b)
				}
				if st := decodeStatus(t, b); st.Code != http.StatusForbidden || st.Reason != v1.ReasonForbidden {
					t.Fatalf("POST %s: Status %+v, want 403 Forbidden", path, st)
				}
			}
			if _, err := leader.Store().Get("namespaces", "", ns.Name); err == nil {
				t.Fatalf("a refused apply created the namespace")
			}
		})
	}

	t.Run("master certificate", func(t *testing.T) {
		peer := masterClientTLS(t, g.Bundle.Dir, "m1")
		hc := httpsClient(t, peer)
		code, b := post(t, hc, leader.APIAddr, readIndexPath, nil)
		var idx struct {
			Index uint64 `json:"index"`
		}
		if code != http.StatusOK || json.Unmarshal(b, &idx) != nil || idx.Index == 0 {
			t.Fatalf("readindex on the leader: HTTP %d: %s", code, b)
		}
		for _, path := range []string{applyPath, readIndexPath} {
			code, b := post(t, hc, follower.APIAddr, path, frames)
			if st := decodeStatus(t, b); code != http.StatusServiceUnavailable || st.Reason != reasonNotLeader {
				t.Fatalf("POST %s on a follower: HTTP %d %+v, want 503 %s", path, code, st, reasonNotLeader)
			}
		}
		code, b = post(t, hc, leader.APIAddr, applyPath, frames[:len(frames)-1])
		if code != http.StatusBadRequest {
			t.Fatalf("apply with a truncated frame: HTTP %d, want 400: %s", code, b)
		}
		code, b = post(t, hc, leader.APIAddr, applyPath, frames)
		if code != http.StatusOK {
			t.Fatalf("apply: HTTP %d: %s", code, b)
		}
		rd := newAnswerReader(b)
		res, err := readAnswer(rd)
		if err != nil || rd.Len() != 0 {
			t.Fatalf("apply answer %q: %v (%d bytes left)", b, err, rd.Len())
		}
		storedNamespace(t, res, ns)
		if _, err := leader.Store().Get("namespaces", "", ns.Name); err != nil {
			t.Fatalf("the applied namespace is not in the leader's store: %v", err)
		}
	})
}
