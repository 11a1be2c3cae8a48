package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// ListOptions select and page the objects of a list or watch.
type ListOptions struct {
	// LabelSelector filters by labels ("app=web,tier!=db").
	LabelSelector string
	// FieldSelector filters by fields ("spec.nodeName=n1").
	FieldSelector string
	// Limit asks for pages of at most this many objects (0: no paging).
	Limit int64
	// Continue is the token of the next page, from RawList.Continue.
	Continue string
	// Stale lets the receiving master answer without a linearizable check.
	Stale bool
}

func (o ListOptions) query() url.Values {
	q := url.Values{}
	if o.LabelSelector != "" {
		q.Set("labelSelector", o.LabelSelector)
	}
	if o.FieldSelector != "" {
		q.Set("fieldSelector", o.FieldSelector)
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.FormatInt(o.Limit, 10))
	}
	if o.Continue != "" {
		q.Set("continue", o.Continue)
	}
	if o.Stale {
		q.Set("stale", "true")
	}
	return q
}

// RawList is one page of a list with its items left undecoded.
type RawList struct {
	// Kind is the list's kind, e.g. "PodList".
	Kind string
	// ResourceVersion is the store's version the list was read at; a watch
	// from it sees every later change.
	ResourceVersion string
	// Continue is the token of the next page, "" on the last one.
	Continue string
	// Items are the objects, as JSON.
	Items []json.RawMessage
}

// List reads one page of a collection. namespace "" lists a namespaced
// resource across all namespaces.
func (c *Client) List(ctx context.Context, resource, namespace string, opts ListOptions) (*RawList, error) {
	p, err := ResourcePath(resource, namespace, "")
	if err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	var wire struct {
		Kind     string `json:"kind"`
		Metadata struct {
			ResourceVersion string `json:"resourceVersion"`
			Continue        string `json:"continue"`
		} `json:"metadata"`
		Items []json.RawMessage `json:"items"`
	}
	if err := c.call(ctx, &request{method: http.MethodGet, path: p, query: opts.query()}, &wire); err != nil {
		return nil, err
	}
	return &RawList{Kind: wire.Kind, ResourceVersion: wire.Metadata.ResourceVersion,
		Continue: wire.Metadata.Continue, Items: wire.Items}, nil
}

// ListTyped lists a collection and decodes its items into T (for example
// v1.Pod). When opts.Limit > 0 it follows the continue tokens until the last
// page. The returned resourceVersion is the first page's, so that a watch
// started from it misses no change made while the pages were read.
func ListTyped[T any](ctx context.Context, c *Client, resource, namespace string, opts ListOptions) ([]T, string, error) {
	var out []T
	rv := ""
	for page := 0; ; page++ {
		l, err := c.List(ctx, resource, namespace, opts)
		if err != nil {
			return nil, "", err
		}
		if page == 0 {
			rv = l.ResourceVersion
		}
		for i, raw := range l.Items {
			var item T
			if err := json.Unmarshal(raw, &item); err != nil {
				return nil, "", fmt.Errorf("list %s: decode item %d: %w", resource, i, err)
			}
			out = append(out, item)
		}
		if opts.Limit <= 0 || l.Continue == "" {
			return out, rv, nil
		}
		opts.Continue = l.Continue
	}
}
