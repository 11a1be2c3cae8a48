package apiserver

import (
	"context"
	"net/http"
	"sync"
	"unicode/utf8"

	utilnet "k8s.io/apimachinery/pkg/util/net"
)

// Limits of the Warning headers of one response, Kubernetes' (its
// apiserver's warning recorder): past 4096 runes in all, each warning is
// cut to 256 runes, and warnings that still do not fit are dropped.
const (
	warningsTotalRunes = 4 * 1024
	warningItemRunes   = 256
)

// warningRecorder adds a request's warnings to its response as Warning
// headers, `Warning: 299 - "text"`, which kubectl prints as "Warning: text".
// They are headers, so they are added before the response is written;
// a warning is sent once however often it is added.
type warningRecorder struct {
	mu     sync.Mutex
	header http.Header
	seen   map[string]bool // made by the first warning: most requests have none
	runes  int
}

type warningsKey struct{}

// withWarnings returns a context whose warnings go to the header h.
func withWarnings(ctx context.Context, h http.Header) context.Context {
	return context.WithValue(ctx, warningsKey{}, &warningRecorder{header: h})
}

// addWarnings adds warnings to the response of ctx's request, if it has one.
func addWarnings(ctx context.Context, warnings ...string) {
	r, ok := ctx.Value(warningsKey{}).(*warningRecorder)
	if !ok {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, text := range warnings {
		if text == "" || r.seen[text] {
			continue
		}
		if r.seen == nil {
			r.seen = map[string]bool{}
		}
		r.seen[text] = true
		n := utf8.RuneCountInString(text)
		if r.runes+n > warningsTotalRunes && n > warningItemRunes {
			text = truncateRunes(text, warningItemRunes)
			n = warningItemRunes
		}
		if r.runes+n > warningsTotalRunes {
			continue
		}
		h, err := utilnet.NewWarningHeader(299, "-", text)
		if err != nil {
			continue // control characters: not a valid header value
		}
		r.runes += n
		r.header.Add("Warning", h)
	}
}

func truncateRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}
