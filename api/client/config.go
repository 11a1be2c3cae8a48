package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"sigs.k8s.io/yaml"
)

// ConfigAPIVersion and ConfigKind identify an admin.conf file.
const (
	ConfigAPIVersion = "orch.io/v1"
	ConfigKind       = "Config"
)

// Defaults used by New when the matching Config field is zero.
const (
	DefaultDialTimeout         = time.Second
	DefaultTLSHandshakeTimeout = 2 * time.Second
	DefaultFailoverRounds      = 6
	DefaultMaxIdleConnsPerHost = 128
)

// Config says how to reach and authenticate to an orch cluster. Its
// serialized form is the admin.conf file that `orchd pki init` writes:
//
//	apiVersion: orch.io/v1
//	kind: Config
//	servers: ["https://127.0.0.1:6443", "https://127.0.0.1:6444"]
//	certificateAuthority: /abs/path/ca.crt   # or certificateAuthorityData: <base64 PEM>
//	token: <hex>
//
// The fields tagged `json:"-"` are tunables for programs; they are never
// read from or written to the file.
type Config struct {
	// APIVersion is "orch.io/v1" in the file.
	APIVersion string `json:"apiVersion,omitempty"`
	// Kind is "Config" in the file.
	Kind string `json:"kind,omitempty"`
	// Servers are the base URLs (https://host:port) of the masters' APIs.
	Servers []string `json:"servers"`
	// CertificateAuthority is the path of the PEM file of the cluster CA.
	// A relative path is resolved against the directory of the config file
	// by LoadConfig.
	CertificateAuthority string `json:"certificateAuthority,omitempty"`
	// CertificateAuthorityData is the cluster CA as PEM bytes (base64 in the
	// file). It takes precedence over CertificateAuthority.
	CertificateAuthorityData []byte `json:"certificateAuthorityData,omitempty"`
	// Token is the bearer token sent with every request.
	Token string `json:"token,omitempty"`
	// ClientCertificate and ClientKey are paths of the PEM files of a client
	// certificate and its key (relative paths are resolved against the
	// directory of the config file by LoadConfig). They are read for each
	// new connection, so a renewed certificate written in place is used
	// from the next connection on.
	ClientCertificate string `json:"clientCertificate,omitempty"`
	ClientKey         string `json:"clientKey,omitempty"`
	// ClientCertificateData and ClientKeyData are the same as PEM bytes
	// (base64 in the file); they take precedence over the paths.
	ClientCertificateData []byte `json:"clientCertificateData,omitempty"`
	ClientKeyData         []byte `json:"clientKeyData,omitempty"`
	// GetClientCertificate, if set, supplies the client certificate for each
	// new connection (a node's certificate manager); it takes precedence
	// over the fields above.
	GetClientCertificate func(*tls.CertificateRequestInfo) (*tls.Certificate, error) `json:"-"`

	// DialTimeout bounds a TCP connect to one server (default 1s), so a dead
	// server is skipped quickly.
	DialTimeout time.Duration `json:"-"`
	// TLSHandshakeTimeout bounds the TLS handshake with one server (default 2s).
	TLSHandshakeTimeout time.Duration `json:"-"`
	// FailoverRounds is how many times a request cycles through all servers
	// before giving up (default 6), unless its context ends first.
	FailoverRounds int `json:"-"`
	// MaxIdleConnsPerHost sizes the keep-alive pool per server (default 128).
	MaxIdleConnsPerHost int `json:"-"`
	// HTTP2 makes the client speak HTTP/2 to the masters, as client-go
	// does: one connection per server carries every request and watch
	// (instead of one HTTP/1.1 connection per request in flight and per
	// watch), and a connection that stays silent is pinged, so a master
	// that vanished without a FIN is noticed (client-go's 30 s read idle
	// timeout, 15 s ping timeout). A node agent holds few requests at once
	// and several watches: a connection each is what costs at a thousand
	// nodes (file descriptors and buffers, on the node and the masters).
	HTTP2 bool `json:"-"`
	// RootCAs, if set, is the cluster CA already parsed; it takes
	// precedence over CertificateAuthority(Data), so many clients of one
	// process share one pool (hollow nodes) instead of parsing their own.
	RootCAs *x509.CertPool `json:"-"`
	// UserAgent is sent as the User-Agent header (default "orch-client").
	UserAgent string `json:"-"`
	// WarningHandler, if set, receives the text of each warning an answer
	// carries (its Warning headers, as Kubernetes' API sends them: Pod
	// Security's "would violate PodSecurity ..."). kubectl prints them as
	// "Warning: TEXT" on stderr.
	WarningHandler func(text string) `json:"-"`
}

// LoadConfig reads an admin.conf file. A relative certificateAuthority path
// is made absolute against the file's directory.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read client config: %w", err)
	}
	var cfg Config
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		return nil, fmt.Errorf("parse client config %s: %w", path, err)
	}
	if cfg.Kind != "" && cfg.Kind != ConfigKind {
		return nil, fmt.Errorf("client config %s: kind is %q, want %q", path, cfg.Kind, ConfigKind)
	}
	for _, p := range []*string{&cfg.CertificateAuthority, &cfg.ClientCertificate, &cfg.ClientKey} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(filepath.Dir(path), *p)
		}
	}
	return &cfg, nil
}

// Save writes the config to path with mode 0600, atomically (a temporary
// file in the same directory is renamed over path). Missing parent
// directories are created with mode 0700.
func (c *Config) Save(path string) error {
	out := *c
	if out.APIVersion == "" {
		out.APIVersion = ConfigAPIVersion
	}
	if out.Kind == "" {
		out.Kind = ConfigKind
	}
	b, err := yaml.Marshal(&out)
	if err != nil {
		return fmt.Errorf("encode client config: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save client config: %w", err)
	}
	f, err := os.CreateTemp(dir, ".admin.conf-*")
	if err != nil {
		return fmt.Errorf("save client config: %w", err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("save client config: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		return fmt.Errorf("save client config: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("save client config: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("save client config: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("save client config: %w", err)
	}
	ok = true
	return nil
}

// caPEM returns the CA certificates as PEM, from the inline data or the file.
func (c *Config) caPEM() ([]byte, error) {
	if len(c.CertificateAuthorityData) > 0 {
		return c.CertificateAuthorityData, nil
	}
	if c.CertificateAuthority == "" {
		return nil, errors.New("no certificate authority configured (set certificateAuthority or certificateAuthorityData)")
	}
	b, err := os.ReadFile(c.CertificateAuthority)
	if err != nil {
		return nil, fmt.Errorf("read certificate authority: %w", err)
	}
	return b, nil
}
