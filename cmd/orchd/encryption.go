package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"

	"orch.io/orch/apiserver"
	"orch.io/orch/encryption"
	"orch.io/orch/sched"
)

// encryptionFlags are the master's flags for Secrets encrypted at rest
// (Kubernetes' --encryption-provider-config and its automatic reload).
type encryptionFlags struct {
	config string
	reload time.Duration
}

func (f *encryptionFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.config, "encryption-provider-config", "", "the EncryptionConfiguration file Secrets are encrypted with (default: --pki-dir's "+encryption.FileName+", which 'orchd pki init' writes; the same file on every master). Without one, Secrets are stored in clear")
	fl.DurationVar(&f.reload, "encryption-provider-config-reload-interval", 10*time.Second, "how often the encryption configuration is read again: a changed file takes effect without a restart (0: never)")
}

// configure loads the encryption configuration into the API server's
// config. The default file may be missing (a cluster made before orch
// encrypted Secrets: they stay in clear, with a warning); a named one
// must load.
func (f *encryptionFlags) configure(sc *apiserver.Config, pkiDir string, log *slog.Logger, reg prometheus.Registerer) (*encryption.Keys, error) {
	path := f.config
	if path == "" {
		path = filepath.Join(pkiDir, encryption.FileName)
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			log.Warn("no encryption configuration: Secrets are stored in clear; write one with 'orchd pki encryption-key init'", "path", path)
			return nil, nil
		}
	}
	keys, err := encryption.Load(path, log.With("subsystem", "encryption"))
	if err != nil {
		return nil, fmt.Errorf("--encryption-provider-config: %w", err)
	}
	provider, key := keys.Primary()
	log.Info("Secrets are encrypted at rest", "config", path, "provider", provider, "key", key)
	sc.Secrets = keys
	reg.MustRegister(&encryptionMetrics{keys: keys,
		primary: prometheus.NewDesc("orch_secrets_encryption_primary_key_info",
			"The provider and key this master encrypts Secrets with (1); identity means in clear.", []string{"provider", "key"}, nil),
		reloads: prometheus.NewDesc("orch_secrets_encryption_config_reloads_total",
			"Reloads of the encryption configuration file: success (the keys changed) or failure (the file did not load; the keys stayed).", []string{"status"}, nil)})
	return keys, nil
}

// encryptionMetrics shows which key a master encrypts with, so an
// operator (and the rotation test) sees every master pick up a change.
type encryptionMetrics struct {
	keys             *encryption.Keys
	primary, reloads *prometheus.Desc
}

func (m *encryptionMetrics) Describe(ch chan<- *prometheus.Desc) { ch <- m.primary; ch <- m.reloads }

func (m *encryptionMetrics) Collect(ch chan<- prometheus.Metric) {
	provider, key := m.keys.Primary()
	ch <- prometheus.MustNewConstMetric(m.primary, prometheus.GaugeValue, 1, provider, key)
	ok, failed := m.keys.Reloads()
	ch <- prometheus.MustNewConstMetric(m.reloads, prometheus.CounterValue, float64(ok), "success")
	ch <- prometheus.MustNewConstMetric(m.reloads, prometheus.CounterValue, float64(failed), "failure")
}

// secretCodec is keys as the leader's controllers use them; without an
// encryption configuration Secrets stay in clear, as through the API.
func secretCodec(keys *encryption.Keys) sched.SecretCodec {
	if keys == nil {
		return sched.ClearSecrets{}
	}
	return keys
}
