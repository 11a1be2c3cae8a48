package apiserver

import (
	"encoding/json"
	"fmt"
	"net/http"

	authzv1 "k8s.io/api/authorization/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"

	v1 "orch.io/orch/api/v1"
)

// protobufContentType is Kubernetes' protobuf media type, which typed
// clients send: kubectl create namespace|service, the DeleteOptions
// of drain and delete, auth can-i's SelfSubjectAccessReview.
const protobufContentType = "application/vnd.kubernetes.protobuf"

// protobufDecoder decodes protobuf request bodies with apimachinery's
// serializer and Kubernetes' own types (k8s.io/api), the protocol edge.
// The decoded object is re-encoded as JSON, which then goes through orch's
// strict decoding like any JSON body, so a field orch does not have is
// still refused.
type protobufDecoder struct {
	ser *protobuf.Serializer
}

func newProtobufDecoder() (*protobufDecoder, error) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, authzv1.AddToScheme, rbacv1.AddToScheme, certificatesv1.AddToScheme,
		autoscalingv1.AddToScheme, policyv1.AddToScheme, eventsv1.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			return nil, fmt.Errorf("protobuf scheme: %w", err)
		}
	}
	// DeleteOptions as meta.k8s.io/v1, besides the copy in every group.
	metav1.AddToGroupVersion(scheme, metav1.SchemeGroupVersion)
	return &protobufDecoder{ser: protobuf.NewSerializer(scheme, scheme)}, nil
}

// toJSON decodes a protobuf body that must hold kind (of apiVersion gv,
// unless gv is "": options are registered in every group) and returns its
// JSON.
func (d *protobufDecoder) toJSON(body []byte, kind, gv string) ([]byte, error) {
	obj, gvk, err := d.ser.Decode(body, nil, nil)
	if err != nil {
		return nil, v1.NewBadRequest(fmt.Sprintf("the protobuf body does not decode: %v", err))
	}
	if gvk.Kind != kind || (gv != "" && gvk.GroupVersion().String() != gv) {
		want := kind
		if gv != "" {
			want = gv + ", Kind=" + kind
		}
		return nil, v1.NewBadRequest(fmt.Sprintf("the body's kind %q does not match the path's %q", gvk.GroupVersion().WithKind(gvk.Kind).String(), want))
	}
	if gv != "" {
		obj.GetObjectKind().SetGroupVersionKind(*gvk)
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("re-encode %s: %w", gvk.Kind, err)
	}
	return b, nil
}

// readObjectBody reads a request body that is JSON or Kubernetes protobuf
// and returns JSON. A protobuf body must hold kind of apiVersion gv (any
// version when gv is "").
func (s *Server) readObjectBody(w http.ResponseWriter, r *http.Request, kind, gv string) ([]byte, error) {
	body, err := s.readBody(w, r, "application/json", protobufContentType)
	if err != nil || len(body) == 0 || !isProtobuf(r) {
		return body, err
	}
	return s.protobuf.toJSON(body, kind, gv)
}
