package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/google/uuid"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// DefaultMaxBodyBytes caps the request and response bodies logged at the
// Request and RequestResponse levels.
const DefaultMaxBodyBytes = 64 << 10

// maxStatusBytes caps what is kept of an error answer to read its Status.
const maxStatusBytes = 4 << 10

// Sink receives finished events. Process must not block for long: it runs
// on the request's goroutine.
type Sink interface {
	Process(ev *auditv1.Event)
}

// HandlerConfig configures the audit middleware.
type HandlerConfig struct {
	// Sink receives the events (required).
	Sink Sink
	// Policy decides what is logged; nil: DefaultPolicy().
	Policy *Policy
	// MaxBodyBytes caps the bodies logged at the Request and
	// RequestResponse levels; a larger body is left out and the event
	// annotated with audit.orch.io/truncated. 0: DefaultMaxBodyBytes.
	MaxBodyBytes int
	// LongRunning tells the requests that get a ResponseStarted event when
	// their response starts (watches, followed logs); nil: none.
	LongRunning func(*http.Request) bool
}

// Handler wraps next with the audit log: each request gets an audit ID
// (sent as the Audit-Id header), and its events go to the sink at the
// level the policy gives. next reports the user and the authorization
// through SetUser and SetAuthorization on the request's context.
func Handler(next http.Handler, cfg HandlerConfig) http.Handler {
	if cfg.Policy == nil {
		cfg.Policy = DefaultPolicy()
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	return &handler{next: next, cfg: cfg}
}

type handler struct {
	next http.Handler
	cfg  HandlerConfig
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// A fresh ID for every request: unlike kube-apiserver, a client's own
	// Audit-ID header is not taken, so no client can give two requests
	// the same ID.
	id := uuid.NewString()
	rec := newRecord(h, r, id, now())
	w.Header().Set(HeaderAuditID, id)
	rw := &responseWriter{ResponseWriter: w, h: h, rec: rec}
	if h.cfg.LongRunning != nil && h.cfg.LongRunning(r) {
		rw.longRunning = true
	}
	r = r.WithContext(context.WithValue(r.Context(), recordKey{}, rec))
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = &bodyReader{ReadCloser: r.Body, h: h, rec: rec}
	}
	defer func() {
		if p := recover(); p != nil {
			rec.mu.Lock()
			rec.status = &metav1.Status{Status: metav1.StatusFailure, Code: http.StatusInternalServerError,
				Reason: metav1.StatusReasonInternalError, Message: fmt.Sprintf("APIServer panic'd: %v", p)}
			rec.received()
			h.emit(rec, auditv1.StagePanic)
			rec.mu.Unlock()
			panic(p)
		}
		rw.finish()
	}()
	// RequestReceived is written once the handlers have authorized the
	// request (so that the policy sees its attributes), or when the
	// response starts.
	h.next.ServeHTTP(rw, r)
}

// emit sends the event of stage if the policy logs it. Call with mu held.
func (h *handler) emit(rec *record, stage auditv1.Stage) {
	if ev := rec.event(h.cfg.Policy, stage, now()); ev != nil {
		h.cfg.Sink.Process(ev)
	}
}

func now() metav1.MicroTime { return metav1.NewMicroTime(time.Now()) }

func typesUID(s string) types.UID { return types.UID(s) }

// bodyReader keeps the request body, up to the cap, while the handlers
// read it, when the request's level logs it.
type bodyReader struct {
	io.ReadCloser
	h   *handler
	rec *record
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		rec := b.rec
		rec.mu.Lock()
		rec.evaluate(b.h.cfg.Policy)
		if levelAtLeast(rec.level, auditv1.LevelRequest) && !rec.reqTooBig {
			if len(rec.reqBody)+n > b.h.cfg.MaxBodyBytes {
				rec.reqBody, rec.reqTooBig = nil, true
			} else {
				rec.reqBody = append(rec.reqBody, p[:n]...)
			}
		}
		rec.mu.Unlock()
	}
	return n, err
}

// responseWriter learns the code and keeps what the event needs of the
// body: the Status of an error, the whole body at RequestResponse.
type responseWriter struct {
	http.ResponseWriter
	h           *handler
	rec         *record
	longRunning bool
	code        int
	// errBody is the start of an error answer.
	errBody []byte
}

func (w *responseWriter) WriteHeader(code int) {
	if w.code == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.start(code)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.start(http.StatusOK)
	}
	if w.code >= 400 && len(w.errBody) < maxStatusBytes {
		w.errBody = append(w.errBody, b[:min(len(b), maxStatusBytes-len(w.errBody))]...)
	}
	if !w.longRunning {
		rec := w.rec
		rec.mu.Lock()
		if levelAtLeast(rec.level, auditv1.LevelRequestResponse) && !rec.respTooBig {
			if len(rec.respBody)+len(b) > w.h.cfg.MaxBodyBytes {
				rec.respBody, rec.respTooBig = nil, true
			} else {
				rec.respBody = append(rec.respBody, b...)
			}
		}
		rec.mu.Unlock()
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (flushes,
// deadlines).
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush lets the handlers that assert http.Flusher stream. A flush before
// anything was written sends a 200 header, as net/http does.
func (w *responseWriter) Flush() {
	if w.code == 0 {
		w.start(http.StatusOK)
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// start records the code; a long-running request's ResponseStarted event
// is sent now, as Kubernetes does.
func (w *responseWriter) start(code int) {
	w.code = code
	rec := w.rec
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.received()
	rec.evaluate(w.h.cfg.Policy)
	rec.status = &metav1.Status{Code: int32(code)}
	if w.longRunning {
		w.h.emit(rec, auditv1.StageResponseStarted)
	}
}

// finish sends the ResponseComplete event.
func (w *responseWriter) finish() {
	if w.code == 0 {
		w.start(http.StatusOK) // as net/http answers a handler that wrote nothing
	}
	rec := w.rec
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if w.code >= 400 {
		var st metav1.Status
		if json.Unmarshal(bytes.TrimSpace(w.errBody), &st) == nil && st.Kind == "Status" {
			rec.status = &metav1.Status{Status: st.Status, Message: st.Message, Reason: st.Reason, Details: st.Details, Code: int32(w.code)}
		} else {
			rec.status = &metav1.Status{Status: metav1.StatusFailure, Code: int32(w.code)}
		}
	}
	w.h.emit(rec, auditv1.StageResponseComplete)
}

func jsonValid(b []byte) bool { return json.Valid(b) }
