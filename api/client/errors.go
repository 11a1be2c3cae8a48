package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	v1 "orch.io/orch/api/v1"
)

// UnknownOutcomeError says that a write was sent to a server but no answer
// came back (the connection broke, the context ended, or the server answered
// 504 Timeout), so it may or may not have been applied. The client never
// retries such a write by itself: the caller must read the state and decide.
type UnknownOutcomeError struct {
	// Method and URL are the request that was sent.
	Method string
	URL    string
	// Err is the cause: a transport error, a context error, or the 504
	// *v1.StatusError.
	Err error
}

// Error implements error.
func (e *UnknownOutcomeError) Error() string {
	return fmt.Sprintf("%s %s: outcome unknown, the request was sent but no answer came back "+
		"(it may or may not have been applied): %v", e.Method, e.URL, e.Err)
}

// Unwrap returns the cause.
func (e *UnknownOutcomeError) Unwrap() error { return e.Err }

// IsUnknownOutcome reports whether err says that a write may or may not have
// been applied.
func IsUnknownOutcome(err error) bool {
	var u *UnknownOutcomeError
	return errors.As(err, &u)
}

// UnreachableError says that no server could be reached: every attempt
// failed before the request was sent (or, for reads, before an answer came).
type UnreachableError struct {
	// Servers are the base URLs that were tried, in configuration order.
	Servers []string
	// Err is the last attempt's error.
	Err error
}

// Error implements error.
func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach any orch master (tried %s): %v", strings.Join(e.Servers, ", "), e.Err)
}

// Unwrap returns the last attempt's error.
func (e *UnreachableError) Unwrap() error { return e.Err }

// IsUnreachable reports whether err says that no server could be reached.
func IsUnreachable(err error) bool {
	var u *UnreachableError
	return errors.As(err, &u)
}

// maxErrorBody bounds how much of an error body is read and kept.
const maxErrorBody = 1 << 20

// decodeStatusError turns a non-2xx answer into a *v1.StatusError. A body
// that is a v1.Status is used as is (with the HTTP code filled in when it is
// missing); any other body yields a Status with the code, a reason derived
// from it, and the body's text as message.
func decodeStatusError(code int, body []byte) *v1.StatusError {
	var st v1.Status
	if err := json.Unmarshal(body, &st); err == nil && (st.Kind == "Status" || st.Reason != "" || st.Code != 0) {
		if st.Code == 0 {
			st.Code = int32(code)
		}
		if st.Reason == "" {
			st.Reason = reasonForCode(code)
		}
		if st.Status == "" {
			st.Status = "Failure"
		}
		if st.Message == "" {
			st.Message = fmt.Sprintf("the server responded with %d %s", code, http.StatusText(code))
		}
		return &v1.StatusError{Status: st}
	}
	msg := strings.TrimSpace(string(body))
	if len(msg) > 512 {
		msg = msg[:512] + "..."
	}
	text := fmt.Sprintf("the server responded with %d %s", code, http.StatusText(code))
	if msg != "" {
		text += ": " + msg
	}
	return &v1.StatusError{Status: v1.Status{
		TypeMeta: v1.TypeMeta{Kind: "Status", APIVersion: v1.APIVersion},
		Status:   "Failure",
		Message:  text,
		Reason:   reasonForCode(code),
		Code:     int32(code),
	}}
}

// reasonForCode maps an HTTP code to the Status reason the API uses for it.
func reasonForCode(code int) string {
	switch code {
	case http.StatusBadRequest:
		return v1.ReasonBadRequest
	case http.StatusUnauthorized:
		return v1.ReasonUnauthorized
	case http.StatusForbidden:
		return v1.ReasonForbidden
	case http.StatusNotFound:
		return v1.ReasonNotFound
	case http.StatusMethodNotAllowed:
		return v1.ReasonMethodNotAllowed
	case http.StatusConflict:
		return v1.ReasonConflict
	case http.StatusGone:
		return v1.ReasonGone
	case http.StatusRequestEntityTooLarge:
		return v1.ReasonRequestTooLarge
	case http.StatusUnsupportedMediaType:
		return v1.ReasonUnsupportedMedia
	case http.StatusUnprocessableEntity:
		return v1.ReasonInvalid
	case http.StatusTooManyRequests:
		return v1.ReasonTooManyRequests
	case http.StatusServiceUnavailable:
		return v1.ReasonServiceUnavailable
	case http.StatusGatewayTimeout:
		return v1.ReasonTimeout
	}
	if code >= 500 {
		return v1.ReasonInternalError
	}
	return ""
}
