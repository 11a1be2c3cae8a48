package podsecurity

import (
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/metrics"
)

// recorder counts evaluations, exemptions and errors in Kubernetes' metrics
// (pod_security_evaluations_total, pod_security_exemptions_total,
// pod_security_errors_total, with the same labels) on orch's registry.
type recorder struct {
	evaluations *prometheus.CounterVec
	exemptions  *prometheus.CounterVec
	errors      *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *recorder {
	r := &recorder{
		evaluations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pod_security_evaluations_total",
			Help: "Number of policy evaluations that occurred, not counting ignored or exempt requests.",
		}, []string{"decision", "policy_level", "policy_version", "mode", "request_operation", "resource", "subresource"}),
		exemptions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pod_security_exemptions_total",
			Help: "Number of exempt requests, not counting ignored or out of scope requests.",
		}, []string{"request_operation", "resource", "subresource"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pod_security_errors_total",
			Help: "Number of errors preventing normal evaluation. Non-fatal errors may result in the latest restricted profile being used for evaluation.",
		}, []string{"fatal", "request_operation", "resource", "subresource"}),
	}
	if reg != nil {
		reg.MustRegister(r.evaluations, r.exemptions, r.errors)
	}
	return r
}

// RecordEvaluation implements metrics.Recorder.
func (r *recorder) RecordEvaluation(d metrics.Decision, lv api.LevelVersion, m metrics.Mode, attrs api.Attributes) {
	r.evaluationCounter(d, lv, m, operationLabel(attrs), resourceLabel(attrs), attrs.GetSubresource()).Inc()
}

// evaluationCounter is the evaluations counter RecordEvaluation increments
// for these labels.
func (r *recorder) evaluationCounter(d metrics.Decision, lv api.LevelVersion, m metrics.Mode, operation, resource, subresource string) prometheus.Counter {
	version := lv.Version.String()
	if lv.Level == api.LevelPrivileged {
		version = api.VersionLatest // privileged is the same at every version
	}
	return r.evaluations.WithLabelValues(string(d), string(lv.Level), version, string(m), operation, resource, subresource)
}

// RecordExemption implements metrics.Recorder.
func (r *recorder) RecordExemption(attrs api.Attributes) {
	r.exemptions.WithLabelValues(operationLabel(attrs), resourceLabel(attrs), attrs.GetSubresource()).Inc()
}

// RecordError implements metrics.Recorder.
func (r *recorder) RecordError(fatal bool, attrs api.Attributes) {
	r.errors.WithLabelValues(strconv.FormatBool(fatal), operationLabel(attrs), resourceLabel(attrs), attrs.GetSubresource()).Inc()
}

func operationLabel(attrs api.Attributes) string {
	return strings.ToLower(string(attrs.GetOperation()))
}

// resourceLabel is Kubernetes': pod, namespace, or controller for anything
// that holds a pod template.
func resourceLabel(attrs api.Attributes) string {
	switch attrs.GetResource().Resource {
	case "pods":
		return "pod"
	case "namespaces":
		return "namespace"
	}
	return "controller"
}

var _ metrics.Recorder = (*recorder)(nil)
