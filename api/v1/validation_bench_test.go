package v1

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// validateBenchObjects are the objects BenchmarkValidate measures, as the
// API server validates them on a create (defaulted, and the pod with the
// names service account admission gives it): the write benchmark's ~1 KiB
// pod, a deployment and a service.
func validateBenchObjects() []Object {
	noToken := false
	replicas := int32(3)
	objs := []Object{
		&Pod{
			ObjectMeta: ObjectMeta{Name: "r0-w1-2", Namespace: "default",
				Labels:      map[string]string{"app": "bench", "tier": "web"},
				Annotations: map[string]string{"note": strings.Repeat("x", 420)}},
			Spec: PodSpec{SchedulerName: "bench-none", AutomountServiceAccountToken: &noToken,
				ServiceAccountName: "default", DeprecatedServiceAccount: "default",
				Containers: []Container{{Name: "web", Image: "busybox:1.35",
					Command: []string{"httpd", "-f", "-p", "8080"},
					Ports:   []ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
		},
		&Deployment{ObjectMeta: ObjectMeta{Name: "web", Namespace: "default"}, Spec: DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: PodTemplateSpec{
				ObjectMeta: ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       PodSpec{Containers: []Container{{Name: "c", Image: "busybox:1.36"}}},
			},
		}},
		&Service{ObjectMeta: ObjectMeta{Name: "web", Namespace: "default"}, Spec: ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []ServicePort{{Name: "http", Port: 80}},
		}},
	}
	for _, o := range objs {
		Default(o)
		SetTypeMeta(o)
	}
	return objs
}

// processCPU returns the CPU time the process has used, the garbage
// collector's included; other work on a shared machine does not inflate
// it as it inflates elapsed time.
func processCPU(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkValidate measures Validate of a valid object of each kind, as
// a create checks it; cpu-ns/op is the process's CPU per validation.
func BenchmarkValidate(b *testing.B) {
	for _, obj := range validateBenchObjects() {
		b.Run(KindOf(obj), func(b *testing.B) {
			if err := Validate(obj); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			start := processCPU(b)
			for b.Loop() {
				if err := Validate(obj); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(processCPU(b)-start)/float64(b.N), "cpu-ns/op")
		})
	}
}
