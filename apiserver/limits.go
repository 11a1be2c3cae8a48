package apiserver

import (
	"fmt"
	"k8s.io/apiserver/pkg/authentication/user"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	v1 "orch.io/orch/api/v1"
)

// Admission of load, after kube-apiserver's max-in-flight filter
// (k8s.io/apiserver/pkg/server/filters/maxinflight.go):
//
//   - authenticated requests are admitted into one of two pools, read-only
//     (GET, HEAD, OPTIONS) and mutating (the rest), each of a fixed size; a
//     request that finds its pool full is refused at once with 429, header
//     Retry-After: 1 and a TooManyRequests Status, never queued;
//   - long-running requests (watches, pod logs and image uploads proxied to
//     node agents) are not counted in the pools, as in Kubernetes, since they
//     would hold a slot for minutes; watches are capped instead, per client
//     and per master;
//   - health, readiness and metrics are never refused (they are not behind
//     authentication, which is where admission happens), nor are the
//     masters' internal endpoints;
//   - unauthenticated requests take no slot: they get 401 first;
//   - unlike Kubernetes, which lets system:masters through a full pool, the
//     admin token is limited too: it is the token every orch user holds.
const (
	// DefaultMaxRequestsInFlight is Kubernetes' --max-requests-inflight.
	DefaultMaxRequestsInFlight = 400
	// DefaultMaxMutatingRequestsInFlight is Kubernetes' --max-mutating-requests-inflight.
	DefaultMaxMutatingRequestsInFlight = 200
	// DefaultMaxWatchesPerClient caps the open watches of one client.
	DefaultMaxWatchesPerClient = 100
	// DefaultMaxWatches caps the open watches of one master.
	DefaultMaxWatches = 10000
	// DefaultMaxConnections caps the open connections of the API listener.
	DefaultMaxConnections = 10000

	// retryAfterSeconds is what a refused client is told to wait, as
	// Kubernetes tells it.
	retryAfterSeconds = 1
	// tooManyRequestsMessage is Kubernetes' wording for a full pool.
	tooManyRequestsMessage = "Too many requests, please try again later."
)

// Request kinds, named as the request_kind label of Kubernetes'
// apiserver_current_inflight_requests.
const (
	kindReadOnly = "readOnly"
	kindMutating = "mutating"
	// kindWatch and kindLongRunning are not counted in the pools.
	kindWatch       = "watch"
	kindLongRunning = "longRunning"
)

// limiter holds the in-flight pools and the watch counts of one server.
type limiter struct {
	// readOnly and mutating are semaphores; nil means no limit.
	readOnly, mutating chan struct{}
	// maxWatches and maxPerClient cap watches; 0 means no limit.
	maxWatches, maxPerClient int

	mu        sync.Mutex
	watches   int
	perClient map[string]int

	inflight *prometheus.GaugeVec
	rejected *prometheus.CounterVec
}

func newLimiter(cfg Config, reg prometheus.Registerer) *limiter {
	l := &limiter{
		maxWatches:   cfg.MaxWatches,
		maxPerClient: cfg.MaxWatchesPerClient,
		perClient:    map[string]int{},
		inflight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "apiserver_current_inflight_requests",
			Help: "Requests being served now, by kind (readOnly or mutating); long-running requests are not counted.",
		}, []string{"request_kind"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orch_api_rejected_requests_total",
			Help: "Requests refused with 429 because a limit was reached, by kind (readOnly, mutating or watch).",
		}, []string{"request_kind"}),
	}
	if cfg.MaxRequestsInFlight > 0 {
		l.readOnly = make(chan struct{}, cfg.MaxRequestsInFlight)
	}
	if cfg.MaxMutatingRequestsInFlight > 0 {
		l.mutating = make(chan struct{}, cfg.MaxMutatingRequestsInFlight)
	}
	// Both kinds are exported from the start, at 0.
	l.inflight.WithLabelValues(kindReadOnly)
	l.inflight.WithLabelValues(kindMutating)
	reg.MustRegister(l.inflight, l.rejected)
	return l
}

// acquire takes a slot of the kind's pool; release gives it back. It
// returns false when the pool is full.
func (l *limiter) acquire(kind string) (release func(), ok bool) {
	sem := l.readOnly
	if kind == kindMutating {
		sem = l.mutating
	}
	if sem != nil {
		select {
		case sem <- struct{}{}:
		default:
			l.rejected.WithLabelValues(kind).Inc()
			return nil, false
		}
	}
	g := l.inflight.WithLabelValues(kind)
	g.Inc()
	return func() {
		g.Dec()
		if sem != nil {
			<-sem
		}
	}, true
}

// startWatch counts a new watch of client; it returns an error naming the
// limit when the client or the master already holds its maximum.
func (l *limiter) startWatch(client string) (release func(), err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.maxWatches > 0 && l.watches >= l.maxWatches:
		err = v1.NewTooManyRequests(fmt.Sprintf("Too many watches on this server (limit %d), please try again later.", l.maxWatches), retryAfterSeconds)
	case l.maxPerClient > 0 && l.perClient[client] >= l.maxPerClient:
		err = v1.NewTooManyRequests(fmt.Sprintf("Too many watches from this client (limit %d), please try again later.", l.maxPerClient), retryAfterSeconds)
	}
	if err != nil {
		l.rejected.WithLabelValues(kindWatch).Inc()
		return nil, err
	}
	l.watches++
	l.perClient[client]++
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.watches--
		if l.perClient[client]--; l.perClient[client] <= 0 {
			delete(l.perClient, client)
		}
	}, nil
}

// clientKey identifies the client of an authenticated request by its
// user (each node has its own, system:node:<name>).
func clientKey(_ *http.Request, u user.Info) string {
	if u == nil {
		return "none"
	}
	return "user:" + u.GetName()
}

// requestKind sorts a request into a pool, or marks it long-running as
// Kubernetes' BasicLongRunningRequestCheck does (the watch verb, the log
// subresource, and here the image upload that is proxied to an agent).
func requestKind(r *http.Request) string {
	if strings.HasPrefix(r.URL.Path, "/api/v1/") || strings.HasPrefix(r.URL.Path, "/apis/") {
		w := ""
		if r.URL.RawQuery != "" { // most requests have no query to parse
			w = r.URL.Query().Get("watch")
		}
		if req, err := parsePath(r.Method, r.URL.Path, w == "true" || w == "1"); err == nil {
			switch {
			case req.verb == "watch":
				return kindWatch
			case isProxySub(req):
				return kindLongRunning
			}
		}
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return kindReadOnly
	}
	return kindMutating
}

// admit runs next if the limits allow the request, else answers 429. It
// runs after authentication, so that unauthenticated requests take no slot.
func (s *Server) admit(w http.ResponseWriter, r *http.Request, u user.Info, next http.Handler) {
	switch kind := requestKind(r); kind {
	case kindWatch:
		release, err := s.limits.startWatch(clientKey(r, u))
		if err != nil {
			tooManyRequests(w, err)
			return
		}
		defer release()
		// A watch outlives the server's WriteTimeout: its stream gets its
		// own deadline, past the longest watch the server allows.
		extendWriteDeadline(w, s.cfg.MaxWatchTimeout+s.cfg.RequestTimeout)
	case kindLongRunning:
		// The proxy sets its own read and write deadlines.
	default:
		release, ok := s.limits.acquire(kind)
		if !ok {
			tooManyRequests(w, v1.NewTooManyRequests(tooManyRequestsMessage, retryAfterSeconds))
			return
		}
		defer release()
	}
	next.ServeHTTP(w, r)
}

// tooManyRequests answers 429 with Retry-After, as Kubernetes does.
func tooManyRequests(w http.ResponseWriter, err error) {
	w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
	writeError(w, err)
}

// extendWriteDeadline moves the connection's write deadline d from now, for
// a response that lasts longer than the server's WriteTimeout.
func extendWriteDeadline(w http.ResponseWriter, d time.Duration) {
	// An error means the writer cannot take deadlines (a test recorder):
	// the server's own timeout then applies.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(d))
}
