package apiserver

import "bytes"

// isNull reports whether a JSON body is the literal null.
func isNull(body []byte) bool { return bytes.Equal(bytes.TrimSpace(body), []byte("null")) }
