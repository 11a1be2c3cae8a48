package apiserver

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// serveWatch streams changes as newline-delimited WatchEvents. A
// resourceVersion of "" or "0" first sends every current object as ADDED;
// so does sendInitialEvents=true (a watch list, which client-go's
// reflectors use), followed, with allowWatchBookmarks, by a BOOKMARK
// annotated k8s.io/initial-events-end at the state's resourceVersion.
// Events are strictly after the resourceVersion and in order; several may
// share one resourceVersion when one entry changed several objects, and the
// server writes all events of one index before flushing.
func (s *Server) serveWatch(w http.ResponseWriter, r *http.Request, req *request) {
	q := r.URL.Query()
	opts, err := listOptions(req, q)
	if err != nil {
		writeError(w, err)
		return
	}
	opts.Limit, opts.After = 0, ""
	tab, err := s.tableFor(r, req)
	if err != nil {
		writeError(w, err)
		return
	}
	enc := &eventEncoder{srv: s, tab: tab, res: req.resource, kind: req.resource.Kind, apiVersion: req.resource.GroupVersion()}
	timeout := s.cfg.MaxWatchTimeout
	if t := q.Get("timeoutSeconds"); t != "" {
		n, err := parseSeconds("timeoutSeconds", t)
		if err != nil {
			writeError(w, err)
			return
		}
		if n > 0 && n < int64(timeout/time.Second) {
			timeout = time.Duration(n) * time.Second
		}
	}
	bookmarks := flag(q, "allowWatchBookmarks")
	rvParam := q.Get("resourceVersion")
	start, err := parseWatchStart(q)
	if err != nil {
		writeError(w, err)
		return
	}

	var store *fsm.Store
	var initial []*fsm.Record
	var from uint64
	switch rvParam {
	case "":
		// The linearizable start is bounded like any read: without a
		// leader it fails with 503 instead of hanging.
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
		store, err = s.read(r.WithContext(ctx))
		cancel()
	case "0":
		store = s.backend.Store()
	default:
		if from, err = parseResourceVersion(rvParam); err != nil {
			writeError(w, err)
			return
		}
		// A watch from beyond what the cluster has committed would wait
		// for ever: answer it as Kubernetes does.
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
		store, err = s.atLeast(ctx, from)
		cancel()
	}
	if err != nil {
		writeError(w, err)
		return
	}
	if start.initial || rvParam == "" || rvParam == "0" {
		// The initial state (or, without initial events, the position a
		// watch from "now" starts at) is one consistent read of the store.
		res, err := store.List(req.resource.Name, opts)
		if err != nil {
			writeError(w, err)
			return
		}
		from = res.Index
		if start.initial {
			initial = res.Items
		}
	}
	sub, err := store.Feed().Subscribe(from, watchFilter(req.resource.Name, opts))
	if err != nil {
		writeError(w, err)
		return
	}
	defer sub.Stop()

	s.metrics.watches.Inc()
	defer s.metrics.watches.Dec()
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	var buf bytes.Buffer
	for _, rec := range initial {
		if err := enc.event(&buf, v1.Added, rec); err != nil {
			return
		}
	}
	if start.endBookmark {
		if err := enc.bookmark(&buf, from, true); err != nil {
			return
		}
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return
	}
	if err := rc.Flush(); err != nil {
		return
	}

	match := func(rec *fsm.Record) bool {
		m := rec.Meta()
		if opts.Namespace != "" && m.Namespace != opts.Namespace {
			return false
		}
		if opts.Labels != nil && !opts.Labels.Matches(labels.Set(m.Labels)) {
			return false
		}
		return opts.Fields == nil || opts.Fields.Matches(rec.Object())
	}
	stopping, _ := r.Context().Value(stoppingKey{}).(<-chan struct{}) // nil outside Serve
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	var bookmarkC <-chan time.Time
	if bookmarks {
		t := time.NewTicker(s.cfg.WatchBookmarkInterval)
		defer t.Stop()
		bookmarkC = t.C
	}
	last := from
	bookmarkDue := false
	for {
		evs, feedLast, closed, err := sub.Next()
		if closed {
			return // the store was replaced by a snapshot restore; the client resumes
		}
		if err != nil {
			buf.Reset()
			writeErrorEvent(&buf, err)
			w.Write(buf.Bytes())
			rc.Flush()
			return
		}
		buf.Reset()
		for _, ev := range evs {
			if ev.Resource != req.resource.Name {
				continue
			}
			typ := ev.Type
			cur := match(ev.Record)
			if ev.Type == v1.Modified && (opts.Labels != nil || opts.Fields != nil) {
				prev := ev.Prev != nil && match(ev.Prev)
				switch {
				case cur && !prev:
					typ = v1.Added
				case !cur && prev:
					typ, cur = v1.Deleted, true
				}
			}
			if !cur {
				continue
			}
			if err := enc.event(&buf, typ, ev.Record); err != nil {
				return
			}
		}
		if feedLast > last {
			last = feedLast
		}
		if bookmarkDue {
			// At the feed's last index: every event up to it that this
			// watch gets was just written or before.
			if err := enc.bookmark(&buf, last, false); err != nil {
				return
			}
			bookmarkDue = false
		}
		if buf.Len() > 0 {
			if _, err := w.Write(buf.Bytes()); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
		select {
		case <-r.Context().Done():
			return
		case <-deadline.C:
			return
		case <-stopping:
			return
		case <-store.Abandoned():
			return
		case <-bookmarkC:
			bookmarkDue = true
		case <-sub.Wait():
		}
	}
}

// watchFilter is the feed's coarse filter for a watch of resource with
// opts: by a pod's node, an object's name or its namespace when the watch
// asks for one value of them (the first of these it asks for), so that an
// event is handed only to the watches it may concern (a node's watch of its
// own pods is not woken by other nodes' pods, Leases or Nodes).
func watchFilter(resource string, opts fsm.ListOptions) fsm.WatchFilter {
	f := fsm.WatchFilter{Resource: resource}
	if v, ok := opts.Fields.ExactMatch(fsm.FieldNodeName); ok && resource == "pods" {
		f.Field, f.Value = fsm.FieldNodeName, v
	} else if v, ok := opts.Fields.ExactMatch(fsm.FieldName); ok {
		f.Field, f.Value = fsm.FieldName, v
	} else if opts.Namespace != "" {
		f.Field, f.Value = fsm.FieldNamespace, opts.Namespace
	} else if v, ok := opts.Fields.ExactMatch(fsm.FieldNamespace); ok {
		f.Field, f.Value = fsm.FieldNamespace, v
	}
	return f
}

// eventEncoder writes a watch's events: the objects themselves, or, for a
// watch that asked for a Table (kubectl get -w), a Table of one row per
// event, the first event's Table carrying the column definitions, as
// Kubernetes sends them.
type eventEncoder struct {
	srv        *Server // shows each record (recordJSON)
	tab        *tabler
	res        v1.Resource // the watched resource, which shows each record
	kind       string
	apiVersion string // the watched kind's group/version, for bookmarks
	headers    bool   // column definitions were sent
}

// event appends one event of rec.
func (e *eventEncoder) event(buf *bytes.Buffer, typ string, rec *fsm.Record) error {
	if e.tab == nil {
		return e.appendEvent(buf, typ, rec)
	}
	e.tab.now = time.Now() // ages as of the event
	b, err := e.tab.table([]*fsm.Record{rec}, metav1.ListMeta{ResourceVersion: rec.Meta().ResourceVersion}, !e.headers)
	if err != nil {
		return err
	}
	e.headers = true
	appendRawEvent(buf, typ, b)
	return nil
}

// bookmark appends a BOOKMARK at rv: an object of the watched kind (with
// its group's apiVersion) with only its resourceVersion, or a Table
// without rows. end marks the end of a watch list's initial events with
// the k8s.io/initial-events-end annotation.
func (e *eventEncoder) bookmark(buf *bytes.Buffer, rv uint64, end bool) error {
	if e.tab == nil {
		ann := ""
		if end {
			ann = fmt.Sprintf(`,"annotations":{%q:"true"}`, initialEventsEnd)
		}
		fmt.Fprintf(buf, `{"type":"BOOKMARK","object":{"kind":%q,"apiVersion":%q,"metadata":{"resourceVersion":"%d"%s}}}`+"\n", e.kind, e.apiVersion, rv, ann)
		return nil
	}
	lm := metav1.ListMeta{ResourceVersion: strconv.FormatUint(rv, 10)}
	b, err := e.tab.table(nil, lm, false)
	if err != nil {
		return err
	}
	appendRawEvent(buf, "BOOKMARK", b)
	return nil
}

// appendRawEvent appends an event of an encoded object.
func appendRawEvent(buf *bytes.Buffer, typ string, obj []byte) {
	buf.WriteString(`{"type":"`)
	buf.WriteString(typ)
	buf.WriteString(`","object":`)
	buf.Write(obj)
	buf.WriteString("}\n")
}

// appendEvent appends an event of rec as the watched resource shows it.
func (e *eventEncoder) appendEvent(buf *bytes.Buffer, typ string, rec *fsm.Record) error {
	b, err := e.srv.recordJSON(e.res, rec)
	if err != nil {
		return err
	}
	buf.WriteString(`{"type":"`)
	buf.WriteString(typ)
	buf.WriteString(`","object":`)
	buf.Write(b)
	buf.WriteString("}\n")
	return nil
}

func writeErrorEvent(buf *bytes.Buffer, err error) {
	se, ok := err.(*v1.StatusError)
	if !ok {
		se = v1.NewInternalError(err)
	}
	b, _ := jsonMarshal(se.Status)
	buf.WriteString(`{"type":"ERROR","object":`)
	buf.Write(b)
	buf.WriteString("}\n")
}
