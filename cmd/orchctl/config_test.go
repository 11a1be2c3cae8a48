package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"orch.io/orch/api/client"
)

func TestLoadConfigPrecedence(t *testing.T) {
	home := t.TempDir()
	other := t.TempDir()
	save := func(path string, servers ...string) {
		t.Helper()
		cfg := &client.Config{Servers: servers, CertificateAuthority: "/ca.crt", Token: "file-token"}
		if err := cfg.Save(path); err != nil {
			t.Fatal(err)
		}
	}
	defaultPath := filepath.Join(home, ".orch", "admin.conf")
	envPath := filepath.Join(other, "env.conf")
	flagPath := filepath.Join(other, "flag.conf")
	save(defaultPath, "https://default:6443")
	save(envPath, "https://env:6443")
	save(flagPath, "https://flag:6443")

	newApp := func(env map[string]string) *app {
		a := &app{getenv: func(k string) string { return env[k] }}
		newRootCmd(a)
		return a
	}
	env := map[string]string{"HOME": home}

	a := newApp(env)
	cfg, err := a.loadConfig()
	if err != nil || cfg.Servers[0] != "https://default:6443" || a.configSource != defaultPath {
		t.Fatalf("default: %+v, %v", cfg, err)
	}

	env[configEnv] = envPath
	a = newApp(env)
	if cfg, err = a.loadConfig(); err != nil || cfg.Servers[0] != "https://env:6443" {
		t.Fatalf("env: %+v, %v", cfg, err)
	}

	a = newApp(env)
	a.configPath = flagPath
	if cfg, err = a.loadConfig(); err != nil || cfg.Servers[0] != "https://flag:6443" {
		t.Fatalf("flag: %+v, %v", cfg, err)
	}

	// Flags override the file's fields.
	a = newApp(env)
	a.servers = []string{"https://x:1", "https://y:2"}
	a.caFile = "rel/ca.pem"
	a.token = "flag-token"
	cfg, err = a.loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	if strings.Join(cfg.Servers, ",") != "https://x:1,https://y:2" || cfg.Token != "flag-token" ||
		cfg.CertificateAuthority != filepath.Join(wd, "rel/ca.pem") {
		t.Fatalf("overrides: %+v", cfg)
	}
}

func TestLoadConfigMissing(t *testing.T) {
	home := t.TempDir()
	env := map[string]string{"HOME": home}
	a := &app{getenv: func(k string) string { return env[k] }}
	newRootCmd(a)
	if _, err := a.loadConfig(); err == nil || !strings.Contains(err.Error(), "no cluster configured") {
		t.Fatalf("err = %v", err)
	}
	// Flags alone are enough when the default file is missing.
	a.servers = []string{"https://x:1"}
	a.caFile = "/ca.pem"
	if cfg, err := a.loadConfig(); err != nil || cfg.Servers[0] != "https://x:1" || a.configSource != "flags" {
		t.Fatalf("flags only: %+v, %v", cfg, err)
	}
	// An explicitly named file must exist.
	a.configPath = filepath.Join(home, "nope.conf")
	if _, err := a.loadConfig(); err == nil {
		t.Fatal("a missing --config file was accepted")
	}
}
