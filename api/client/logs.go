package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	v1 "orch.io/orch/api/v1"
)

// LogOptions select what Logs reads of a pod's container log.
type LogOptions struct {
	// Container names the container; it may be empty when the pod has one.
	Container string
	// Follow keeps the stream open and sends new output as it is written,
	// until the container ends or the context does.
	Follow bool
	// Previous reads the log of the container's previous attempt (the one
	// before its last restart).
	Previous bool
	// Timestamps prefixes every line with an RFC 3339 timestamp.
	Timestamps bool
	// TailLines, when set, starts with only the last lines of the log.
	TailLines *int64
	// SinceSeconds, when set, sends only lines written in the last seconds.
	SinceSeconds *int64
	// SinceTime, when not zero, sends only lines written from then on
	// (sent with second precision, as Kubernetes' sinceTime).
	SinceTime time.Time
	// LimitBytes, when set, ends the log after that many bytes.
	LimitBytes *int64
}

func (o LogOptions) query() url.Values {
	q := url.Values{}
	if o.Container != "" {
		q.Set("container", o.Container)
	}
	if o.Follow {
		q.Set("follow", "true")
	}
	if o.Previous {
		q.Set("previous", "true")
	}
	if o.Timestamps {
		q.Set("timestamps", "true")
	}
	if o.TailLines != nil {
		q.Set("tailLines", strconv.FormatInt(*o.TailLines, 10))
	}
	if o.SinceSeconds != nil {
		q.Set("sinceSeconds", strconv.FormatInt(*o.SinceSeconds, 10))
	}
	if !o.SinceTime.IsZero() {
		q.Set("sinceTime", o.SinceTime.UTC().Format(time.RFC3339))
	}
	if o.LimitBytes != nil {
		q.Set("limitBytes", strconv.FormatInt(*o.LimitBytes, 10))
	}
	return q
}

// Logs opens the log of a pod's container (GET .../pods/{name}/log), which
// the master proxies from the pod's node. The caller reads the stream and
// must close it; with Follow it ends when the container does, or when ctx
// ends. Namespace "" means "default". Errors before the stream starts are
// *v1.StatusError (400 when the container is ambiguous or the pod is not
// bound, 503 when its node cannot be reached).
func (c *Client) Logs(ctx context.Context, namespace, name string, opts LogOptions) (io.ReadCloser, error) {
	if namespace == "" {
		namespace = v1.DefaultNamespace
	}
	p, err := ResourcePath("pods", namespace, name, "log")
	if err != nil {
		return nil, fmt.Errorf("logs: %w", err)
	}
	res, err := c.send(ctx, &request{method: http.MethodGet, path: p, query: opts.query(), stream: true})
	if err != nil {
		return nil, err
	}
	return res.stream, nil
}

// LoadImage uploads an OCI image tarball to a node (POST
// /api/v1/nodes/{node}/images), whose runtime imports it, and returns the
// names of the images it held. The tarball is streamed, not buffered. When
// a master gives no answer the upload goes to the next one, from the start
// of the tarball when r is an io.Seeker (a file); a reader that cannot be
// rewound is sent once. API errors (503 included: the node's agent may be
// down) are *v1.StatusError and are not retried.
func (c *Client) LoadImage(ctx context.Context, node string, r io.Reader) ([]string, error) {
	p, err := ResourcePath("nodes", "", node, "images")
	if err != nil {
		return nil, fmt.Errorf("load image: %w", err)
	}
	size, start := int64(-1), int64(0)
	seeker, seekable := r.(io.Seeker)
	if seekable {
		if start, err = seeker.Seek(0, io.SeekCurrent); err != nil {
			seekable = false
		} else if end, err := seeker.Seek(0, io.SeekEnd); err != nil {
			seekable = false
		} else if _, err := seeker.Seek(start, io.SeekStart); err != nil {
			return nil, fmt.Errorf("load image: rewind the tarball: %w", err)
		} else {
			size = end - start
		}
	}
	servers := c.Servers()
	n := len(servers)
	first := int(c.preferred.Load()) % n
	var lastErr error
	for i := range n {
		idx := (first + i) % n
		images, consumed, err := c.upload(ctx, servers[idx], p, r, size)
		if err == nil {
			c.preferred.Store(int64(idx))
			return images, nil
		}
		var ue *unreachableMaster
		if !errors.As(err, &ue) || ctx.Err() != nil {
			return nil, err
		}
		lastErr = ue.err
		if consumed {
			if !seekable {
				break
			}
			if _, err := seeker.Seek(start, io.SeekStart); err != nil {
				return nil, fmt.Errorf("load image: rewind the tarball: %w", err)
			}
		}
	}
	return nil, &UnreachableError{Servers: servers, Err: lastErr}
}

// unreachableMaster says that an upload got no answer from a master.
type unreachableMaster struct{ err error }

func (e *unreachableMaster) Error() string { return e.err.Error() }
func (e *unreachableMaster) Unwrap() error { return e.err }

// upload sends one image upload to the server with base URL server.
// consumed says whether it read from body. A master that gives no answer
// yields *unreachableMaster.
func (c *Client) upload(ctx context.Context, server, path string, body io.Reader, size int64) ([]string, bool, error) {
	target := server + path
	cr := &uploadBody{r: body}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, cr)
	if err != nil {
		return nil, false, fmt.Errorf("build request POST %s: %w", target, err)
	}
	if size >= 0 {
		req.ContentLength = size
		if size == 0 {
			req.Body = http.NoBody
		}
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/x-tar")
	req.Header.Set("User-Agent", c.userAgent)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.httpc.Do(req)
	// The transport may go on reading the body after Do returns (it
	// checks that nothing follows the declared length, or is still
	// sending when the answer came early); from here on the tarball is
	// the caller's again.
	read, readErr := cr.detach()
	consumed := read > 0
	if err != nil {
		if readErr != nil && !errors.Is(readErr, io.EOF) {
			return nil, consumed, fmt.Errorf("load image: read the tarball: %w", readErr)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, consumed, &unreachableMaster{err: fmt.Errorf("POST %s: %w", target, err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		if err != nil {
			return nil, consumed, fmt.Errorf("POST %s: read answer (HTTP %d): %w", target, resp.StatusCode, err)
		}
		return nil, consumed, decodeStatusError(resp.StatusCode, b)
	}
	var res v1.ImageLoadResult
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxErrorBody)).Decode(&res); err != nil {
		return nil, consumed, fmt.Errorf("POST %s: decode answer: %w", target, err)
	}
	return res.Images, consumed, nil
}

// uploadBody is an upload's request body. It counts the bytes read and
// keeps the read error, and it can be detached from its reader: after
// detach returns, the transport's further reads get io.EOF and never reach
// the reader, so the caller may rewind it and send it again.
type uploadBody struct {
	mu       sync.Mutex // held across each read of r
	r        io.Reader
	n        int64
	err      error
	detached bool
}

func (b *uploadBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.detached {
		return 0, io.EOF
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	if err != nil {
		b.err = err
	}
	return n, err
}

// detach waits for a read in progress, stops further reads of the reader
// and returns the bytes read so far and the read error, if any.
func (b *uploadBody) detach() (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.detached = true
	return b.n, b.err
}
