package apiserver

import (
	"encoding/json"
	"fmt"

	authzv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"

	v1 "orch.io/orch/api/v1"
)

// protobufContentType is Kubernetes' protobuf media type, which typed
// clients (kubectl auth can-i's SelfSubjectAccessReview) send.
const protobufContentType = "application/vnd.kubernetes.protobuf"

// reviewDecoder decodes the protobuf bodies of access reviews with
// apimachinery's serializer and Kubernetes' authorization/v1 types. Only
// the reviews accept protobuf: they are what kubectl's typed client posts.
type reviewDecoder struct {
	ser *protobuf.Serializer
}

func newReviewDecoder() (*reviewDecoder, error) {
	scheme := runtime.NewScheme()
	if err := authzv1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("authorization scheme: %w", err)
	}
	return &reviewDecoder{ser: protobuf.NewSerializer(scheme, scheme)}, nil
}

// toJSON decodes a protobuf review body of the request's kind and returns
// its JSON, which then goes through the same strict decoding as a JSON body.
func (d *reviewDecoder) toJSON(req *request, body []byte) ([]byte, error) {
	obj, gvk, err := d.ser.Decode(body, nil, nil)
	if err != nil {
		return nil, v1.NewBadRequest(fmt.Sprintf("the protobuf body does not decode: %v", err))
	}
	if gvk.Kind != req.resource.Kind || gvk.GroupVersion().String() != req.resource.GroupVersion() {
		return nil, v1.NewBadRequest(fmt.Sprintf("the body's kind %q does not match the path's %q", gvk.GroupVersion().WithKind(gvk.Kind).String(), req.resource.Kind))
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("re-encode %s: %w", gvk.Kind, err)
	}
	return b, nil
}
