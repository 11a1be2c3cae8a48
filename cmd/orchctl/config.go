package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"orch.io/orch/api/client"
)

// configEnv names the environment variable with the config file's path.
const configEnv = "ORCHCONFIG"

// defaultConfigPath returns ~/.orch/admin.conf, or "" without a home.
func (a *app) defaultConfigPath() string {
	home := a.getenv("HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		home = h
	}
	return filepath.Join(home, ".orch", "admin.conf")
}

// flag returns the value of a string flag of kubectl's ConfigFlags, "" when
// it is unset.
func flag(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// useOrchConfig reports whether the cluster is found through orch's client
// config rather than a kubeconfig. A kubeconfig named by --kubeconfig or
// $KUBECONFIG wins; otherwise orch's config is used when one is named
// (--config, $ORCHCONFIG), when ~/.orch/admin.conf exists, or when --server
// is given. Else kubectl's own rules apply (~/.kube/config).
func (a *app) useOrchConfig() bool {
	if flag(a.flags.KubeConfig) != "" || a.getenv(clientcmd.RecommendedConfigPathEnvVar) != "" {
		return false
	}
	if a.configPath != "" || a.getenv(configEnv) != "" || flag(a.flags.APIServer) != "" {
		return true
	}
	if p := a.defaultConfigPath(); p != "" {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}

// servers are the API server URLs of --server, comma-separated.
func (a *app) servers() []string {
	var out []string
	for _, s := range strings.Split(flag(a.flags.APIServer), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// loadConfig reads orch's client config file (--config, $ORCHCONFIG,
// ~/.orch/admin.conf) and applies the flags over it: --server (several,
// comma-separated), --ca-file or --certificate-authority, --token,
// --client-certificate and --client-key. A missing default file is not an
// error when --server is given.
func (a *app) loadConfig() (*client.Config, error) {
	if a.orchCfg != nil {
		return a.orchCfg, nil
	}
	path, explicit := a.configPath, true
	if path == "" {
		path = a.getenv(configEnv)
	}
	if path == "" {
		path, explicit = a.defaultConfigPath(), false
	}
	servers := a.servers()
	cfg := &client.Config{}
	a.configSource = path
	if path != "" {
		loaded, err := client.LoadConfig(path)
		switch {
		case err == nil:
			cfg = loaded
		case errors.Is(err, fs.ErrNotExist) && !explicit && len(servers) > 0:
			a.configSource = "flags"
		case errors.Is(err, fs.ErrNotExist) && !explicit:
			return nil, fmt.Errorf("no cluster configured: %s does not exist; pass --config FILE (or set $%s), "+
				"--kubeconfig FILE (or set $KUBECONFIG), or --server URL --ca-file FILE --token TOKEN", path, configEnv)
		default:
			return nil, err
		}
	}
	if len(servers) > 0 {
		cfg.Servers = servers
	}
	ca := a.caFile
	if ca == "" {
		ca = flag(a.flags.CAFile)
	}
	if ca != "" {
		abs, err := filepath.Abs(ca)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		cfg.CertificateAuthority, cfg.CertificateAuthorityData = abs, nil
	}
	if t := flag(a.flags.BearerToken); t != "" {
		cfg.Token = t
	}
	if c, k := flag(a.flags.CertFile), flag(a.flags.KeyFile); c != "" || k != "" {
		cfg.ClientCertificate, cfg.ClientKey = c, k
		cfg.ClientCertificateData, cfg.ClientKeyData = nil, nil
	}
	if len(cfg.Servers) == 0 {
		return nil, fmt.Errorf("no API server configured: %s lists no servers and --server is not set", a.configSource)
	}
	cfg.UserAgent = "orchctl/" + clientVersion
	a.orchCfg = cfg
	return cfg, nil
}

// tokenSource names where the token came from, for the 401 message.
func (a *app) tokenSource() string {
	if a.flags != nil && flag(a.flags.BearerToken) != "" {
		return "--token"
	}
	return a.configSource
}

// wrapRESTConfig is kubectl's WrapConfigFn: with orch's config in use it
// replaces the (empty) kubeconfig's cluster and user by orch's, keeping what
// the flags set that orch's config has no field for (impersonation,
// --request-timeout, rate limits, headers).
func (a *app) wrapRESTConfig(c *rest.Config) *rest.Config {
	if !a.useOrchConfig() {
		return c
	}
	cfg, err := a.loadConfig()
	if err == nil {
		var rc *rest.Config
		if rc, err = restConfigFor(cfg, c); err == nil {
			return rc
		}
	}
	// The pre-run check reports a config error before any request; should
	// one still come here, every request fails with it.
	broken := rest.CopyConfig(c)
	broken.WrapTransport = func(http.RoundTripper) http.RoundTripper { return failingTransport{err} }
	return broken
}

// failingTransport fails every request with err.
type failingTransport struct{ err error }

func (f failingTransport) RoundTrip(*http.Request) (*http.Response, error) { return nil, f.err }

// restConfigFor builds client-go's rest.Config from orch's client config:
// the first server as Host, the CA, the token or client certificate, a dial
// timeout of client.DefaultDialTimeout, and a transport that fails over to
// the next server when one is down (client.FailoverRoundTripper). base gives
// the fields orch's config does not have.
func restConfigFor(cfg *client.Config, base *rest.Config) (*rest.Config, error) {
	if len(cfg.Servers) == 0 {
		return nil, errors.New("client config lists no servers")
	}
	// Check every server now, so a bad one is reported before any request.
	if _, err := client.NewFailoverRoundTripper(cfg.Servers, http.DefaultTransport); err != nil {
		return nil, err
	}
	rc := &rest.Config{}
	if base != nil {
		rc = rest.CopyConfig(base)
	}
	rc.Host = strings.TrimRight(cfg.Servers[0], "/")
	rc.Username, rc.Password = "", ""
	rc.BearerToken, rc.BearerTokenFile = cfg.Token, ""
	rc.AuthProvider, rc.ExecProvider = nil, nil
	tls := rest.TLSClientConfig{
		CAFile:   cfg.CertificateAuthority,
		CAData:   cfg.CertificateAuthorityData,
		CertFile: cfg.ClientCertificate,
		KeyFile:  cfg.ClientKey,
		CertData: cfg.ClientCertificateData,
		KeyData:  cfg.ClientKeyData,
	}
	if len(tls.CAData) > 0 {
		tls.CAFile = ""
	}
	if len(tls.CertData) > 0 {
		tls.CertFile, tls.KeyFile = "", ""
	}
	rc.TLSClientConfig = tls
	dialTimeout := cfg.DialTimeout
	if dialTimeout <= 0 {
		dialTimeout = client.DefaultDialTimeout
	}
	rc.Dial = (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext
	servers := append([]string(nil), cfg.Servers...)
	rc.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		f, err := client.NewFailoverRoundTripper(servers, rt)
		if err != nil {
			return failingTransport{err} // checked above; not reached
		}
		return f
	})
	return rc, nil
}

// clientConfig returns orch's client config for orch's own commands: orch's
// config file when in use, else one made from the kubeconfig (its server,
// CA and credentials).
func (a *app) clientConfig() (*client.Config, error) {
	if a.useOrchConfig() {
		return a.loadConfig()
	}
	rc, err := a.flags.ToRawKubeConfigLoader().ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	a.configSource = "kubeconfig"
	if err := rest.LoadTLSFiles(rc); err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	token := rc.BearerToken
	if token == "" && rc.BearerTokenFile != "" {
		b, err := os.ReadFile(rc.BearerTokenFile)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig: token file: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	return &client.Config{
		Servers:                  []string{rc.Host},
		CertificateAuthorityData: rc.CAData,
		Token:                    token,
		ClientCertificateData:    rc.CertData,
		ClientKeyData:            rc.KeyData,
		UserAgent:                "orchctl/" + clientVersion,
	}, nil
}
