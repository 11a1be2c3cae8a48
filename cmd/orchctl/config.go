package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

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

// loadConfig reads the config file (--config, $ORCHCONFIG, ~/.orch/admin.conf)
// and applies the flags over it. A missing default file is not an error when
// --server is given.
func (a *app) loadConfig() (*client.Config, error) {
	path, explicit := a.configPath, true
	if path == "" {
		path = a.getenv(configEnv)
	}
	if path == "" {
		path, explicit = a.defaultConfigPath(), false
	}
	cfg := &client.Config{}
	a.configSource = path
	if path != "" {
		loaded, err := client.LoadConfig(path)
		switch {
		case err == nil:
			cfg = loaded
		case errors.Is(err, fs.ErrNotExist) && !explicit && len(a.servers) > 0:
			a.configSource = "flags"
		case errors.Is(err, fs.ErrNotExist) && !explicit:
			return nil, fmt.Errorf("no cluster configured: %s does not exist; pass --config FILE (or set $%s), "+
				"or --server URL --ca-file FILE --token TOKEN", path, configEnv)
		default:
			return nil, err
		}
	}
	if len(a.servers) > 0 {
		cfg.Servers = a.servers
	}
	if a.caFile != "" {
		abs, err := filepath.Abs(a.caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		cfg.CertificateAuthority, cfg.CertificateAuthorityData = abs, nil
	}
	if a.token != "" {
		cfg.Token = a.token
	}
	if len(cfg.Servers) == 0 {
		return nil, fmt.Errorf("no API server configured: %s lists no servers and --server is not set", a.configSource)
	}
	cfg.UserAgent = "orchctl/" + clientVersion
	return cfg, nil
}

// tokenSource names where the token came from, for the 401 message.
func (a *app) tokenSource() string {
	if a.token != "" {
		return "--token"
	}
	return a.configSource
}
