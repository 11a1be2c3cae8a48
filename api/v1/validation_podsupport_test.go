package v1

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestValidatePodSupport(t *testing.T) {
	q := resource.MustParse
	for _, tc := range []struct {
		name   string
		mutate func(s *PodSpec)
		field  string // "" = valid
		msg    string // part of the cause's message
	}{
		{"init container", func(s *PodSpec) {
			s.InitContainers = []Container{{Name: "init", Image: "busybox", ImagePullPolicy: PullIfNotPresent,
				TerminationMessagePath: DefaultTerminationMessagePath, TerminationMessagePolicy: "File"}}
		}, "", ""},
		{"init container with a probe", func(s *PodSpec) {
			s.InitContainers = []Container{{Name: "init", Image: "busybox", ImagePullPolicy: PullIfNotPresent,
				TerminationMessagePath: DefaultTerminationMessagePath, TerminationMessagePolicy: "File",
				ReadinessProbe: &Probe{ProbeHandler: ProbeHandler{Exec: &ExecAction{Command: []string{"true"}}},
					TimeoutSeconds: 1, PeriodSeconds: 1, SuccessThreshold: 1, FailureThreshold: 1}}}
		}, "spec.initContainers[0].readinessProbe", "may not be set for init containers"},
		{"deadline 1", func(s *PodSpec) { s.ActiveDeadlineSeconds = new(int64(1)) }, "", ""},
		{"deadline 0", func(s *PodSpec) { s.ActiveDeadlineSeconds = new(int64(0)) }, "spec.activeDeadlineSeconds", "must be between 1 and 2147483647, inclusive"},
		{"memory emptyDir", func(s *PodSpec) {
			sz := q("64Mi")
			s.Volumes[0].EmptyDir = &EmptyDirVolumeSource{Medium: MediumMemory, SizeLimit: &sz}
		}, "", ""},
		{"hugepages emptyDir", func(s *PodSpec) { s.Volumes[0].EmptyDir.Medium = "HugePages" },
			"spec.volumes[0].emptyDir.medium", "supported values"},
		{"negative sizeLimit", func(s *PodSpec) {
			sz := q("-1Mi")
			s.Volumes[0].EmptyDir.SizeLimit = &sz
		}, "spec.volumes[0].emptyDir.sizeLimit", "greater than or equal to 0"},
		{"serviceAccountName", func(s *PodSpec) { s.ServiceAccountName = "builder" }, "", ""},
		{"bad serviceAccountName", func(s *PodSpec) { s.ServiceAccountName = "Builder_1" }, "spec.serviceAccountName", "RFC 1123"},
		{"serviceAccount", func(s *PodSpec) { s.DeprecatedServiceAccount = "builder" }, "", ""},
		{"bad serviceAccount", func(s *PodSpec) { s.DeprecatedServiceAccount = "a/b" }, "spec.serviceAccount", "RFC 1123"},
		{"imagePullSecrets", func(s *PodSpec) { s.ImagePullSecrets = []LocalObjectRef{{Name: "regcred"}} }, "", ""},
		// Kubernetes lets an empty name through; the node skips it.
		{"imagePullSecrets empty name", func(s *PodSpec) { s.ImagePullSecrets = []LocalObjectRef{{}} }, "", ""},
		{"dnsPolicy None", func(s *PodSpec) { s.DNSPolicy = "None" }, "spec.dnsPolicy", "supported values"},
		{"enableServiceLinks false", func(s *PodSpec) { s.EnableServiceLinks = new(false) }, "", ""},
		{"enableServiceLinks true", func(s *PodSpec) { s.EnableServiceLinks = new(true) }, "", ""},
		{"default tolerations of kubernetes", func(s *PodSpec) {
			s.Tolerations = []Toleration{{Key: notReadyTaintKey, Operator: "Exists", Effect: TaintNoExecute, TolerationSeconds: new(int64(300))}}
		}, "", ""},
		{"tolerationSeconds on NoSchedule", func(s *PodSpec) {
			s.Tolerations = []Toleration{{Key: "a", Operator: "Exists", Effect: TaintNoSchedule, TolerationSeconds: new(int64(3))}}
		}, "spec.tolerations[0].effect", "NoExecute"},
		{"unsupported fieldRef", func(s *PodSpec) {
			s.Containers[0].Env[1].ValueFrom.FieldRef.FieldPath = "metadata.labels"
		}, "spec.containers[0].env[1].valueFrom.fieldRef.fieldPath", "supported values"},
		{"ephemeral-storage", func(s *PodSpec) {
			s.Containers[0].Resources.Limits = ResourceList{"ephemeral-storage": q("1Gi")}
		}, "spec.containers[0].resources.limits[ephemeral-storage]", "supported values"},
		{"liveness successThreshold", func(s *PodSpec) { s.Containers[0].LivenessProbe.SuccessThreshold = 2 },
			"spec.containers[0].livenessProbe.successThreshold", "must be 1"},
		{"ftp probe", func(s *PodSpec) {
			s.Containers[0].ReadinessProbe.HTTPGet.Scheme = "FTP"
		}, "spec.containers[0].readinessProbe.httpGet.scheme", "supported values"},
		{"startup probe", func(s *PodSpec) {
			s.Containers[0].StartupProbe = &Probe{ProbeHandler: ProbeHandler{HTTPGet: &HTTPGetAction{Port: intstr.FromInt32(80), Scheme: "HTTP"}},
				TimeoutSeconds: 1, PeriodSeconds: 1, SuccessThreshold: 1, FailureThreshold: 30}
		}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := validPod()
			tc.mutate(&p.Spec)
			err := Validate(p)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("valid pod refused: %v", err)
				}
				return
			}
			wantInvalid(t, err, tc.field)
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
			// RC templates share the rules.
			rc := validRC()
			rc.Spec.Template.Spec = p.Spec
			rc.Spec.Template.Spec.NodeName = ""
			wantInvalid(t, Validate(rc), "spec.template."+tc.field)
		})
	}
}

func TestValidatePodSpecUpdate(t *testing.T) {
	withInit := func() *Pod {
		p := validPod()
		p.Spec.NodeName = "node-1"
		p.Spec.ActiveDeadlineSeconds = new(int64(60))
		p.Spec.InitContainers = []Container{{Name: "init", Image: "busybox:1.35", Command: []string{"true"},
			ImagePullPolicy: PullIfNotPresent, TerminationMessagePath: DefaultTerminationMessagePath, TerminationMessagePolicy: "File"}}
		return p
	}
	for _, tc := range []struct {
		name   string
		mutate func(s *PodSpec)
		field  string // "" = allowed
	}{
		{"init image", func(s *PodSpec) { s.InitContainers[0].Image = "busybox:1.36" }, ""},
		{"init command", func(s *PodSpec) { s.InitContainers[0].Command = []string{"false"} }, "spec.initContainers[0]"},
		{"init removed", func(s *PodSpec) { s.InitContainers = nil }, "spec.initContainers"},
		{"deadline lowered", func(s *PodSpec) { s.ActiveDeadlineSeconds = new(int64(30)) }, ""},
		{"deadline raised", func(s *PodSpec) { s.ActiveDeadlineSeconds = new(int64(90)) }, "spec.activeDeadlineSeconds"},
		{"deadline removed", func(s *PodSpec) { s.ActiveDeadlineSeconds = nil }, "spec.activeDeadlineSeconds"},
		{"toleration added", func(s *PodSpec) { s.Tolerations = append(s.Tolerations, Toleration{Key: "k", Operator: "Exists"}) }, ""},
		{"restartPolicy", func(s *PodSpec) { s.RestartPolicy = RestartNever }, "spec"},
		{"hostname", func(s *PodSpec) { s.Hostname = "other" }, "spec"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := withInit()
			tc.mutate(&p.Spec)
			err := ValidateUpdate(p, withInit())
			if tc.field == "" {
				if err != nil {
					t.Fatalf("update refused: %v", err)
				}
				return
			}
			wantInvalid(t, err, tc.field)
		})
	}
}

func TestValidateRCTemplateSpec(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(s *PodSpec)
		field  string
	}{
		{"restartPolicy Never", func(s *PodSpec) { s.RestartPolicy = RestartNever }, "spec.template.spec.restartPolicy"},
		{"restartPolicy OnFailure", func(s *PodSpec) { s.RestartPolicy = RestartOnFailure }, "spec.template.spec.restartPolicy"},
		{"activeDeadlineSeconds", func(s *PodSpec) { s.ActiveDeadlineSeconds = new(int64(10)) }, "spec.template.spec.activeDeadlineSeconds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := validRC()
			tc.mutate(&rc.Spec.Template.Spec)
			wantInvalid(t, Validate(rc), tc.field)
		})
	}
}
