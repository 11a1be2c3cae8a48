package apiserver

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apimachinery/pkg/util/intstr"

	v1 "orch.io/orch/api/v1"
)

// kubectl auth can-i posts its SelfSubjectAccessReview as protobuf.
func TestProtobufAccessReview(t *testing.T) {
	e := newTestEnv(t)
	scheme := runtime.NewScheme()
	if err := authzv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	ser := protobuf.NewSerializer(scheme, scheme)
	encode := func(obj runtime.Object) []byte {
		var buf bytes.Buffer
		if err := ser.Encode(obj, &buf); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	ssar := &authzv1.SelfSubjectAccessReview{Spec: authzv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: &authzv1.ResourceAttributes{Namespace: "default", Verb: "create", Resource: "pods"}}}
	ssar.SetGroupVersionKind(authzv1.SchemeGroupVersion.WithKind("SelfSubjectAccessReview"))
	const path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
	b := e.expectCode(t, http.StatusCreated, http.MethodPost, path, encode(ssar), withContentType(protobufContentType))
	if out := decode[v1.SelfSubjectAccessReview](t, b); !out.Status.Allowed || out.Spec.ResourceAttributes == nil || out.Spec.ResourceAttributes.Resource != "pods" {
		t.Errorf("answer %s", b)
	}
	// A body of another kind, and a body that is not protobuf, are 400.
	sar := &authzv1.SubjectAccessReview{}
	sar.SetGroupVersionKind(authzv1.SchemeGroupVersion.WithKind("SubjectAccessReview"))
	e.expectCode(t, http.StatusBadRequest, http.MethodPost, path, encode(sar), withContentType(protobufContentType))
	e.expectCode(t, http.StatusBadRequest, http.MethodPost, path, []byte("k8s\x00garbage"), withContentType(protobufContentType))
	// A body of another kind than the path's is 400.
	e.expectCode(t, http.StatusBadRequest, http.MethodPost, "/api/v1/namespaces/default/pods", encode(ssar), withContentType(protobufContentType))
}

// kubectl's typed clients (create namespace|service, delete, drain) send
// protobuf bodies of Kubernetes' types; orch decodes them into its own
// types as strictly as JSON.
func TestProtobufBodies(t *testing.T) {
	e := newTestEnv(t)
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	ser := protobuf.NewSerializer(scheme, scheme)
	encode := func(obj runtime.Object) []byte {
		var buf bytes.Buffer
		if err := ser.Encode(obj, &buf); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	pb := withContentType(protobufContentType)
	ns := &corev1.Namespace{TypeMeta: metav1.TypeMeta{Kind: "Namespace", APIVersion: "v1"}, ObjectMeta: metav1.ObjectMeta{Name: "team"}}
	svc := &corev1.Service{TypeMeta: metav1.TypeMeta{Kind: "Service", APIVersion: "v1"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{"app": "web"}},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Name: "80-8080", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(8080)}}}}
	withRanges := svc.DeepCopy()
	withRanges.Name = "other"
	withRanges.Spec.LoadBalancerSourceRanges = []string{"10.0.0.0/8"}
	grace := int64(0)
	del := &metav1.DeleteOptions{TypeMeta: metav1.TypeMeta{Kind: "DeleteOptions", APIVersion: "v1"}, GracePeriodSeconds: &grace}
	badDel := &metav1.DeleteOptions{TypeMeta: metav1.TypeMeta{Kind: "DeleteOptions", APIVersion: "v1"}, DryRun: []string{"Maybe"}}

	tests := []struct {
		name         string
		method, path string
		body         []byte
		code         int
		check        func(t *testing.T, b []byte)
	}{
		{name: "create namespace", method: http.MethodPost, path: "/api/v1/namespaces", body: encode(ns), code: http.StatusCreated,
			check: func(t *testing.T, b []byte) {
				if got := decode[v1.Namespace](t, b); got.Name != "team" || got.UID == "" {
					t.Errorf("answer %s", b)
				}
			}},
		{name: "create service", method: http.MethodPost, path: "/api/v1/namespaces/default/services", body: encode(svc), code: http.StatusCreated,
			check: func(t *testing.T, b []byte) {
				got := decode[v1.Service](t, b)
				if got.Spec.ClusterIP == "" || len(got.Spec.Ports) != 1 || got.Spec.Ports[0].TargetPort.IntValue() != 8080 {
					t.Errorf("answer %s", b)
				}
			}},
		{name: "a field orch does not have", method: http.MethodPost, path: "/api/v1/namespaces/default/services", body: encode(withRanges),
			code: http.StatusBadRequest, check: func(t *testing.T, b []byte) {
				if st := decode[v1.Status](t, b); !strings.Contains(st.Message, "loadBalancerSourceRanges") {
					t.Errorf("message %q does not name the field", st.Message)
				}
			}},
		{name: "a body of another kind than the path's", method: http.MethodPost, path: "/api/v1/namespaces", body: encode(svc), code: http.StatusBadRequest},
		{name: "delete options", method: http.MethodDelete, path: "/api/v1/namespaces/default/services/web", body: encode(del), code: http.StatusOK},
		{name: "bad delete options", method: http.MethodDelete, path: "/api/v1/namespaces/team", body: encode(badDel), code: http.StatusUnprocessableEntity},
		{name: "not protobuf", method: http.MethodPost, path: "/api/v1/namespaces", body: []byte("k8s\x00junk"), code: http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := e.expectCode(t, tt.code, tt.method, tt.path, tt.body, pb)
			if tt.check != nil {
				tt.check(t, b)
			}
		})
	}
	e.expectCode(t, http.StatusNotFound, http.MethodGet, "/api/v1/namespaces/default/services/web", nil)
	e.expectCode(t, http.StatusNotFound, http.MethodGet, "/api/v1/namespaces/default/services/other", nil)
	e.expectCode(t, http.StatusOK, http.MethodGet, "/api/v1/namespaces/team", nil)
}
