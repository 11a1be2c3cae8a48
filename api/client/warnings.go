package client

import (
	"net/http"

	utilnet "k8s.io/apimachinery/pkg/util/net"
)

// warn passes the warnings of an answer's Warning headers to the
// configured handler. Headers that do not parse are skipped, as client-go
// skips them.
func (c *Client) warn(h http.Header) {
	values := h.Values("Warning")
	if c.warnings == nil || len(values) == 0 {
		return
	}
	ws, _ := utilnet.ParseWarningHeaders(values)
	for _, w := range ws {
		if w.Code == 299 && w.Text != "" {
			c.warnings(w.Text)
		}
	}
}
