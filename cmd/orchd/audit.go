package main

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"

	"orch.io/orch/audit"
)

// auditFlags are kube-apiserver's audit log flags.
type auditFlags struct {
	path, policyFile           string
	maxSize, maxBackup, maxAge int
}

func (f *auditFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.path, "audit-log-path", "", "write the audit log (audit.k8s.io/v1 Events, one JSON line each) to this file; empty: no audit log")
	fl.StringVar(&f.policyFile, "audit-policy-file", "", "audit.k8s.io/v1 Policy file deciding what is logged at which level (empty: Metadata for every request but /healthz, /readyz and /livez)")
	fl.IntVar(&f.maxSize, "audit-log-maxsize", 100, "megabytes the audit log file may reach before it is rotated")
	fl.IntVar(&f.maxBackup, "audit-log-maxbackup", 10, "rotated audit log files kept (0: all)")
	fl.IntVar(&f.maxAge, "audit-log-maxage", 30, "days rotated audit log files are kept (0: no limit by age)")
}

// open returns the audit log and its policy, or a nil log when
// --audit-log-path is not set.
func (f *auditFlags) open(log *slog.Logger, reg prometheus.Registerer) (*audit.Log, *audit.Policy, error) {
	if f.path == "" {
		return nil, nil, nil
	}
	policy := audit.DefaultPolicy()
	if f.policyFile != "" {
		var err error
		if policy, err = audit.LoadPolicy(f.policyFile); err != nil {
			return nil, nil, err
		}
	}
	l, err := audit.NewLog(audit.LogConfig{Path: f.path, MaxSizeMB: f.maxSize, MaxBackups: f.maxBackup,
		MaxAgeDays: f.maxAge, Logger: log, Registerer: reg})
	if err != nil {
		return nil, nil, err
	}
	return l, policy, nil
}
