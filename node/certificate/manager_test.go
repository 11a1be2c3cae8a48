package certificate

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/pki"
)

func TestRotationDeadline(t *testing.T) {
	since := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		life   time.Duration
		jitter float64
		want   time.Duration
	}{
		{2 * time.Minute, 0, 84 * time.Second},
		{2 * time.Minute, 0.5, 96 * time.Second},
		{2 * time.Minute, 0.999999, 108 * time.Second},
		{365 * 24 * time.Hour, 0, time.Duration(0.7 * float64(365*24*time.Hour))},
	} {
		got := RotationDeadline(since, since.Add(tc.life), tc.jitter).Sub(since)
		if d := got - tc.want; d < -time.Millisecond || d > time.Millisecond {
			t.Errorf("RotationDeadline(life %v, jitter %v) = +%v, want +%v", tc.life, tc.jitter, got, tc.want)
		}
	}
}

// fakeAPI is a CSR API whose signer signs every request for validity,
// unless deny is set.
type fakeAPI struct {
	t        *testing.T
	ca       *pki.CA
	validity time.Duration
	deny     bool

	mu      sync.Mutex
	created []*v1.CertificateSigningRequest
}

func (f *fakeAPI) Create(_ context.Context, obj v1.Object) error {
	csr := obj.(*v1.CertificateSigningRequest)
	if err := v1.Validate(csr); err != nil {
		return err
	}
	req, err := v1.ParseCSR(csr.Spec.Request)
	if err != nil {
		return err
	}
	stored := v1.DeepCopy(csr)
	if f.deny {
		stored.Status.Conditions = []v1.CertificateSigningRequestCondition{{Type: v1.CertificateDenied, Status: v1.ConditionTrue, Reason: "No"}}
	} else {
		cert, err := f.ca.SignClient(req.PublicKey, pki.ClientCertificate{CommonName: req.Subject.CommonName,
			Organizations: req.Subject.Organization, Validity: f.validity}, time.Now())
		if err != nil {
			return err
		}
		stored.Status.Certificate = cert
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.created = append(f.created, stored)
	return nil
}

func (f *fakeAPI) Get(_ context.Context, _, _, name string, out v1.Object, _ ...client.GetOption) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.created {
		if c.Name == name {
			*out.(*v1.CertificateSigningRequest) = *v1.DeepCopy(c)
			return nil
		}
	}
	return v1.NewNotFound("certificatesigningrequests", name)
}

func (f *fakeAPI) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.created)
}

func newFakeAPI(t *testing.T, validity time.Duration) *fakeAPI {
	dir := t.TempDir()
	if err := pki.Init(pki.InitOptions{Dir: dir, Hosts: []string{"127.0.0.1"}}); err != nil {
		t.Fatal(err)
	}
	ca, err := pki.LoadClusterCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	return &fakeAPI{t: t, ca: ca, validity: validity}
}

func TestBootstrapStoresAndReloads(t *testing.T) {
	api := newFakeAPI(t, time.Hour)
	dir := filepath.Join(t.TempDir(), "pki")
	m, err := New(Config{NodeName: "n1", Dir: dir, PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if m.Valid() {
		t.Fatal("a new manager holds a certificate")
	}
	if _, err := m.GetClientCertificate(nil); err == nil {
		t.Fatal("GetClientCertificate without a certificate")
	}
	if err := m.Bootstrap(context.Background(), api); err != nil {
		t.Fatal(err)
	}
	csr := api.created[0]
	if csr.Spec.SignerName != v1.KubeAPIServerClientKubeletSignerName || !strings.HasPrefix(csr.Name, "node-csr-n1-") {
		t.Fatalf("request %s for %s", csr.Name, csr.Spec.SignerName)
	}
	if cn := m.Current().Subject.CommonName; cn != "system:node:n1" {
		t.Fatalf("certificate for %q", cn)
	}
	fi, err := os.Stat(filepath.Join(dir, FileName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("stored file: %v %v", err, fi)
	}
	// A restarted agent needs no token.
	m2, err := New(Config{NodeName: "n1", Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if !m2.Valid() || m2.Current().SerialNumber.Cmp(m.Current().SerialNumber) != 0 {
		t.Fatal("the stored certificate was not reloaded")
	}
	if err := m2.Bootstrap(context.Background(), api); err != nil || api.count() != 1 {
		t.Fatalf("bootstrap with a valid certificate asked again: %v, %d requests", err, api.count())
	}
	// An expired one is not valid.
	m3, err := New(Config{NodeName: "n1", Dir: dir, Now: func() time.Time { return time.Now().Add(2 * time.Hour) }})
	if err != nil || m3.Valid() {
		t.Fatalf("expired certificate valid: %v", err)
	}
}

func TestBootstrapDenied(t *testing.T) {
	api := newFakeAPI(t, time.Hour)
	api.deny = true
	m, err := New(Config{NodeName: "n1", Dir: t.TempDir(), PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	err = m.Bootstrap(context.Background(), api)
	if err == nil || !strings.Contains(err.Error(), "was denied") {
		t.Fatalf("denied bootstrap: %v", err)
	}
}

// TestRunRenews: a certificate of 2 s is renewed (jitter 0: at 1.4 s) with
// a new key, the rotation hooks run, and new connections get the new one.
func TestRunRenews(t *testing.T) {
	api := newFakeAPI(t, 2*time.Second)
	m, err := New(Config{NodeName: "n1", Dir: t.TempDir(), PollInterval: 10 * time.Millisecond, Jitter: func() float64 { return 0 }})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Bootstrap(context.Background(), api); err != nil {
		t.Fatal(err)
	}
	first := m.Current()
	rotated := make(chan struct{}, 10)
	m.OnRotate(func() { rotated <- struct{}{} })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx, api) }()
	defer func() { cancel(); <-done }()
	for i := 0; i < 2; i++ {
		select {
		case <-rotated:
		case <-time.After(10 * time.Second):
			t.Fatalf("no rotation %d within 10s", i+1)
		}
	}
	cur := m.Current()
	if cur.SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Fatal("the certificate did not change")
	}
	c, err := m.GetClientCertificate(nil)
	if err != nil || c.Leaf.SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Fatalf("new connections get the old certificate: %v", err)
	}
}

// failingAPI refuses everything, as the API does an expired certificate.
type failingAPI struct{}

func (failingAPI) Create(context.Context, v1.Object) error {
	return v1.NewUnauthorized("Unauthorized: the credential is not valid")
}

func (failingAPI) Get(context.Context, string, string, string, v1.Object, ...client.GetOption) error {
	return v1.NewUnauthorized("Unauthorized: the credential is not valid")
}

// TestRunFallsBackToBootstrap: renewals refused until the certificate
// expired, the manager asks again with the bootstrap token.
func TestRunFallsBackToBootstrap(t *testing.T) {
	api := newFakeAPI(t, time.Second)
	m, err := New(Config{NodeName: "n1", Dir: t.TempDir(), PollInterval: 10 * time.Millisecond, Jitter: func() float64 { return 0 }})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Bootstrap(context.Background(), api); err != nil {
		t.Fatal(err)
	}
	first := m.Current()
	m.SetBootstrapAPI(api)
	rotated := make(chan struct{}, 10)
	m.OnRotate(func() { rotated <- struct{}{} })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx, failingAPI{}) }()
	defer func() { cancel(); <-done }()
	select {
	case <-rotated:
	case <-time.After(15 * time.Second):
		t.Fatal("no new certificate through the bootstrap API")
	}
	if m.Current().SerialNumber.Cmp(first.SerialNumber) == 0 || api.count() != 2 {
		t.Fatalf("certificate unchanged or %d requests", api.count())
	}
}
