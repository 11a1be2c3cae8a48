package v1

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// Manifests as users write them for Kubernetes (from the Kubernetes docs and
// from `kubectl create ... --dry-run=client -o yaml`). They must load with
// unknown fields rejected, default, and validate, as the API server does it.

const podManifest = `
apiVersion: v1
kind: Pod
metadata:
  name: liveness-http
  labels:
    test: liveness
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: |
      {"apiVersion":"v1","kind":"Pod"}
spec:
  terminationGracePeriodSeconds: 10
  volumes:
  - name: cache
    emptyDir:
      sizeLimit: 500Mi
  initContainers:
  - name: init-cache
    image: busybox:1.36
    command: ["sh", "-c", "echo warm > /cache/state"]
    volumeMounts:
    - name: cache
      mountPath: /cache
  containers:
  - name: liveness
    image: registry.k8s.io/e2e-test-images/agnhost:2.40
    args:
    - liveness
    ports:
    - name: http
      containerPort: 8080
    env:
    - name: POD_IP
      valueFrom:
        fieldRef:
          fieldPath: status.podIP
    - name: GREETING
      value: "hello"
    resources:
      requests:
        cpu: 100m
        memory: 64Mi
      limits:
        cpu: "1"
        memory: 128Mi
    volumeMounts:
    - name: cache
      mountPath: /cache
      readOnly: true
    livenessProbe:
      httpGet:
        path: /healthz
        port: 8080
        httpHeaders:
        - name: Custom-Header
          value: Awesome
      initialDelaySeconds: 3
      periodSeconds: 3
    readinessProbe:
      tcpSocket:
        port: http
    startupProbe:
      exec:
        command: ["cat", "/tmp/healthy"]
      failureThreshold: 30
  nodeSelector:
    kubernetes.io/os: linux
  tolerations:
  - key: node.kubernetes.io/not-ready
    operator: Exists
    effect: NoExecute
    tolerationSeconds: 300
`

// kubectl run web --image=nginx:1.27 --port=80 --dry-run=client -o yaml
const kubectlPodManifest = `
apiVersion: v1
kind: Pod
metadata:
  creationTimestamp: null
  labels:
    run: web
  name: web
spec:
  containers:
  - image: nginx:1.27
    name: web
    ports:
    - containerPort: 80
    resources: {}
  dnsPolicy: ClusterFirst
  restartPolicy: Always
status: {}
`

const rcManifest = `
apiVersion: v1
kind: ReplicationController
metadata:
  name: nginx
spec:
  replicas: 3
  selector:
    app: nginx
  template:
    metadata:
      name: nginx
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: nginx
        ports:
        - containerPort: 80
`

const serviceManifest = `
apiVersion: v1
kind: Service
metadata:
  name: frontend
  namespace: shop
  labels:
    app: guestbook
    tier: frontend
spec:
  type: NodePort
  selector:
    app: guestbook
    tier: frontend
  ports:
  - name: http
    protocol: TCP
    port: 80
    targetPort: http-web
    nodePort: 30080
  - name: metrics
    port: 9090
  sessionAffinity: ClientIP
`

// kubectl create service nodeport web --tcp=80:80 --dry-run=client -o yaml
const kubectlServiceManifest = `
apiVersion: v1
kind: Service
metadata:
  creationTimestamp: null
  labels:
    app: web
  name: web
spec:
  ports:
  - name: 80-80
    port: 80
    protocol: TCP
    targetPort: 80
  selector:
    app: web
  type: NodePort
status:
  loadBalancer: {}
`

const namespaceManifest = `
apiVersion: v1
kind: Namespace
metadata:
  name: development
  labels:
    name: development
`

const endpointsManifest = `
apiVersion: v1
kind: Endpoints
metadata:
  name: my-service
subsets:
  - addresses:
      - ip: 192.0.2.42
        targetRef:
          kind: Pod
          name: my-pod
          namespace: default
    notReadyAddresses:
      - ip: 192.0.2.43
    ports:
      - name: http
        port: 9376
`

// loadManifest does what the API server does with a body: strict decode,
// namespace from the request path, defaults, validation.
func loadManifest(t *testing.T, manifest string) Object {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(manifest))
	if err != nil {
		t.Fatalf("YAML to JSON: %v", err)
	}
	var tm TypeMeta
	if err := json.Unmarshal(j, &tm); err != nil {
		t.Fatalf("read kind: %v", err)
	}
	res, ok := ResourceByKind(tm.Kind)
	if !ok || tm.APIVersion != "v1" {
		t.Fatalf("unsupported %s/%s", tm.APIVersion, tm.Kind)
	}
	obj := res.New()
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(obj); err != nil {
		t.Fatalf("strict decode %s: %v", tm.Kind, err)
	}
	if m := obj.GetObjectMeta(); res.Namespaced && m.Namespace == "" {
		m.Namespace = DefaultNamespace
	}
	Default(obj)
	if err := Validate(obj); err != nil {
		t.Fatalf("validate %s: %v", tm.Kind, err)
	}
	// What orch writes back loads strictly too, unchanged.
	out, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	again := res.New()
	dec = json.NewDecoder(bytes.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(again); err != nil {
		t.Fatalf("strict decode of orch's own encoding: %v\n%s", err, out)
	}
	if out2, _ := json.Marshal(again); !bytes.Equal(out, out2) {
		t.Errorf("encoding does not round-trip:\n%s\n%s", out, out2)
	}
	return obj
}

func TestManifests(t *testing.T) {
	tests := []struct {
		name     string
		manifest string
		check    func(t *testing.T, obj Object)
	}{
		{"pod", podManifest, func(t *testing.T, obj Object) {
			p := obj.(*Pod)
			if p.Namespace != "default" || p.Labels["test"] != "liveness" {
				t.Errorf("meta = %+v", p.ObjectMeta)
			}
			if !strings.Contains(p.Annotations["kubectl.kubernetes.io/last-applied-configuration"], `"kind":"Pod"`) {
				t.Errorf("annotations = %v", p.Annotations)
			}
			c := p.Spec.Containers[0]
			if c.ImagePullPolicy != PullIfNotPresent || p.Spec.InitContainers[0].ImagePullPolicy != PullIfNotPresent {
				t.Errorf("pull policies %q %q", c.ImagePullPolicy, p.Spec.InitContainers[0].ImagePullPolicy)
			}
			if c.LivenessProbe.HTTPGet.Port != intstr.FromInt32(8080) || c.LivenessProbe.PeriodSeconds != 3 || c.LivenessProbe.TimeoutSeconds != 1 {
				t.Errorf("liveness probe = %+v", c.LivenessProbe)
			}
			if c.ReadinessProbe.TCPSocket.Port != intstr.FromString("http") {
				t.Errorf("readiness port = %v", c.ReadinessProbe.TCPSocket.Port)
			}
			if c.StartupProbe.FailureThreshold != 30 {
				t.Errorf("startup probe = %+v", c.StartupProbe)
			}
			if q := c.Resources.Requests[ResourceCPU]; q.MilliValue() != 100 {
				t.Errorf("cpu request = %s", q.String())
			}
			if q := c.Resources.Limits[ResourceMemory]; q.Value() != 128<<20 {
				t.Errorf("memory limit = %s", q.String())
			}
			if c.Env[0].ValueFrom.FieldRef.FieldPath != "status.podIP" {
				t.Errorf("env = %+v", c.Env)
			}
			if *p.Spec.TerminationGracePeriodSeconds != 10 || p.Spec.RestartPolicy != RestartAlways {
				t.Errorf("grace %d restartPolicy %q", *p.Spec.TerminationGracePeriodSeconds, p.Spec.RestartPolicy)
			}
			if p.Spec.Volumes[0].EmptyDir.SizeLimit.String() != "500Mi" {
				t.Errorf("emptyDir = %+v", p.Spec.Volumes[0].EmptyDir)
			}
			if ts := p.Spec.Tolerations[0].TolerationSeconds; ts == nil || *ts != 300 {
				t.Errorf("tolerations = %+v", p.Spec.Tolerations)
			}
		}},
		{"pod from kubectl run", kubectlPodManifest, func(t *testing.T, obj Object) {
			p := obj.(*Pod)
			if !p.CreationTimestamp.IsZero() || p.Status.Phase != PodPending {
				t.Errorf("creationTimestamp %v phase %q", p.CreationTimestamp, p.Status.Phase)
			}
			if p.Spec.Containers[0].Ports[0].Protocol != ProtocolTCP {
				t.Errorf("port = %+v", p.Spec.Containers[0].Ports[0])
			}
		}},
		{"replication controller", rcManifest, func(t *testing.T, obj Object) {
			rc := obj.(*ReplicationController)
			if *rc.Spec.Replicas != 3 || rc.Spec.Selector["app"] != "nginx" || rc.Labels["app"] != "nginx" {
				t.Errorf("rc = %+v", rc)
			}
			if rc.Spec.Template.Name != "nginx" || rc.Spec.Template.Spec.Containers[0].ImagePullPolicy != PullAlways {
				t.Errorf("template = %+v", rc.Spec.Template)
			}
		}},
		{"NodePort service with a named targetPort", serviceManifest, func(t *testing.T, obj Object) {
			s := obj.(*Service)
			if s.Namespace != "shop" || s.Spec.Type != ServiceTypeNodePort {
				t.Errorf("namespace %q type %q", s.Namespace, s.Spec.Type)
			}
			http, metrics := s.Spec.Ports[0], s.Spec.Ports[1]
			if http.TargetPort != intstr.FromString("http-web") || http.NodePort != 30080 {
				t.Errorf("http port = %+v", http)
			}
			if metrics.TargetPort != intstr.FromInt32(9090) || metrics.Protocol != ProtocolTCP || metrics.NodePort != 0 {
				t.Errorf("metrics port = %+v", metrics)
			}
			if c := s.Spec.SessionAffinityConfig; c == nil || *c.ClientIP.TimeoutSeconds != 10800 {
				t.Errorf("sessionAffinityConfig = %+v", c)
			}
		}},
		{"service from kubectl create", kubectlServiceManifest, func(t *testing.T, obj Object) {
			s := obj.(*Service)
			if s.Spec.Ports[0].Name != "80-80" || s.Spec.Ports[0].TargetPort != intstr.FromInt32(80) {
				t.Errorf("ports = %+v", s.Spec.Ports)
			}
		}},
		{"namespace", namespaceManifest, func(t *testing.T, obj Object) {
			ns := obj.(*Namespace)
			if ns.Name != "development" || ns.Namespace != "" || ns.Status.Phase != NamespaceActive {
				t.Errorf("namespace = %+v", ns)
			}
		}},
		{"endpoints", endpointsManifest, func(t *testing.T, obj Object) {
			e := obj.(*Endpoints)
			ss := e.Subsets[0]
			if ss.Addresses[0].IP != "192.0.2.42" || ss.Addresses[0].TargetRef.Name != "my-pod" ||
				ss.NotReadyAddresses[0].IP != "192.0.2.43" || ss.Ports[0].Port != 9376 || ss.Ports[0].Protocol != ProtocolTCP {
				t.Errorf("subsets = %+v", e.Subsets)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, loadManifest(t, tt.manifest))
		})
	}
}

// Strict decoding names the field it does not know.
func TestManifestUnknownField(t *testing.T) {
	j, err := yaml.YAMLToJSON([]byte(strings.Replace(rcManifest, "  replicas: 3", "  replica: 3", 1)))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	err = dec.Decode(&ReplicationController{})
	if err == nil || !strings.Contains(err.Error(), `"replica"`) {
		t.Fatalf("decode with a misspelt field: %v, want unknown field \"replica\"", err)
	}
}
