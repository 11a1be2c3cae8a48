package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strconv"

	v1 "orch.io/orch/api/v1"
)

// Do sends one request with failover and decodes a 2xx answer into out.
// path is the absolute API path ("/api/v1/..."); body is sent as JSON
// ([]byte and json.RawMessage are sent as they are; nil sends no body). out
// may be nil, a *[]byte or *json.RawMessage for the raw answer, or any value
// encoding/json can decode into.
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, body any, out any) error {
	b, err := encodeBody(body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	return c.call(ctx, &request{method: method, path: path, query: query, body: b}, out)
}

// call sends r and decodes the answer into out.
func (c *Client) call(ctx context.Context, r *request, out any) error {
	res, err := c.send(ctx, r)
	if err != nil {
		return err
	}
	if err := decodeInto(res.body, out); err != nil {
		return fmt.Errorf("%s %s: decode answer from %s: %w", r.method, r.path, res.server, err)
	}
	return nil
}

func encodeBody(body any) ([]byte, error) {
	switch b := body.(type) {
	case nil:
		return nil, nil
	case []byte:
		return b, nil
	case json.RawMessage:
		return b, nil
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode request body: %w", err)
	}
	return b, nil
}

// decodeInto decodes b into out. A pointer to a struct is zeroed first, so
// fields the answer omits do not keep the values the caller sent.
func decodeInto(b []byte, out any) error {
	switch o := out.(type) {
	case nil:
		return nil
	case *json.RawMessage:
		*o = append((*o)[:0], b...)
		return nil
	case *[]byte:
		*o = append((*o)[:0], b...)
		return nil
	}
	if v := reflect.ValueOf(out); v.Kind() == reflect.Pointer && !v.IsNil() && v.Elem().Kind() == reflect.Struct {
		v.Elem().SetZero()
	}
	return json.Unmarshal(b, out)
}

// GetOption changes how Get reads.
type GetOption func(*getOptions)

type getOptions struct {
	stale bool
}

// Stale lets the master that receives the Get answer from its own state
// without a linearizable check (?stale=true): faster, possibly out of date.
func Stale() GetOption { return func(o *getOptions) { o.stale = true } }

// Create creates obj (POST to its collection) and fills obj with the object
// the server stored (uid, resourceVersion, defaults). A namespaced object
// without a namespace is created in "default".
func (c *Client) Create(ctx context.Context, obj v1.Object) error {
	_, p, err := objectPath(obj, false)
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	v1.SetTypeMeta(obj)
	return c.sendObject(ctx, http.MethodPost, p, obj)
}

// Get reads one object into out.
func (c *Client) Get(ctx context.Context, resource, namespace, name string, out v1.Object, opts ...GetOption) error {
	var o getOptions
	for _, f := range opts {
		f(&o)
	}
	p, err := ResourcePath(resource, namespace, name)
	if err != nil {
		return fmt.Errorf("get: %w", err)
	}
	var q url.Values
	if o.stale {
		q = url.Values{"stale": {"true"}}
	}
	return c.call(ctx, &request{method: http.MethodGet, path: p, query: q}, out)
}

// Update replaces obj (PUT). When obj carries a resourceVersion the update
// happens only if the stored object still has it, else the error is a
// Conflict (v1.IsConflict). obj is filled with the stored result.
func (c *Client) Update(ctx context.Context, obj v1.Object) error {
	_, p, err := objectPath(obj, true)
	if err != nil {
		return fmt.Errorf("update: %w", err)
	}
	v1.SetTypeMeta(obj)
	return c.sendObject(ctx, http.MethodPut, p, obj)
}

// UpdateStatus replaces the status of obj (PUT .../status), with the same
// resourceVersion precondition as Update. obj is filled with the result.
func (c *Client) UpdateStatus(ctx context.Context, obj v1.Object) error {
	_, p, err := objectPath(obj, true, "status")
	if err != nil {
		return fmt.Errorf("update status: %w", err)
	}
	v1.SetTypeMeta(obj)
	return c.sendObject(ctx, http.MethodPut, p, obj)
}

func (c *Client) sendObject(ctx context.Context, method, path string, obj v1.Object) error {
	b, err := json.Marshal(obj)
	if err != nil {
		return fmt.Errorf("%s %s: encode %T: %w", method, path, obj, err)
	}
	return c.call(ctx, &request{method: method, path: path, body: b}, obj)
}

// Patch applies a JSON merge patch (RFC 7386) to one object and decodes the
// result into out (which may be nil).
func (c *Client) Patch(ctx context.Context, resource, namespace, name string, mergePatch []byte, out v1.Object) error {
	p, err := ResourcePath(resource, namespace, name)
	if err != nil {
		return fmt.Errorf("patch: %w", err)
	}
	return c.patch(ctx, p, mergePatch, out)
}

// PatchStatus applies a JSON merge patch to the status subresource of one
// object and decodes the result into out (which may be nil).
func (c *Client) PatchStatus(ctx context.Context, resource, namespace, name string, mergePatch []byte, out v1.Object) error {
	p, err := ResourcePath(resource, namespace, name, "status")
	if err != nil {
		return fmt.Errorf("patch status: %w", err)
	}
	return c.patch(ctx, p, mergePatch, out)
}

func (c *Client) patch(ctx context.Context, path string, mergePatch []byte, out v1.Object) error {
	var dst any
	if out != nil {
		dst = out
	}
	return c.call(ctx, &request{method: http.MethodPatch, path: path, body: mergePatch,
		contentType: "application/merge-patch+json"}, dst)
}

// Delete deletes one object and returns the server's answer: the object
// (a pod being deleted gracefully still exists, with deletionTimestamp set)
// or a Status. opts may be nil; its grace period and propagation policy are
// sent both in the body and as query parameters.
func (c *Client) Delete(ctx context.Context, resource, namespace, name string, opts *v1.DeleteOptions) (json.RawMessage, error) {
	p, err := ResourcePath(resource, namespace, name)
	if err != nil {
		return nil, fmt.Errorf("delete: %w", err)
	}
	r := &request{method: http.MethodDelete, path: p}
	if opts != nil {
		o := *opts
		o.TypeMeta = v1.TypeMeta{Kind: "DeleteOptions", APIVersion: v1.APIVersion}
		if r.body, err = json.Marshal(&o); err != nil {
			return nil, fmt.Errorf("delete: encode options: %w", err)
		}
		q := url.Values{}
		if o.GracePeriodSeconds != nil {
			q.Set("gracePeriodSeconds", strconv.FormatInt(*o.GracePeriodSeconds, 10))
		}
		if o.PropagationPolicy != "" {
			q.Set("propagationPolicy", o.PropagationPolicy)
		}
		r.query = q
	}
	var raw json.RawMessage
	if err := c.call(ctx, r, &raw); err != nil {
		return nil, err
	}
	return raw, nil
}
