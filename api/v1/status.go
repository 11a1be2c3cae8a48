package v1

import (
	"errors"
	"fmt"
	"net/http"
)

// Reasons carried by a Status, as Kubernetes names them.
const (
	ReasonNotFound           = "NotFound"
	ReasonAlreadyExists      = "AlreadyExists"
	ReasonConflict           = "Conflict"
	ReasonInvalid            = "Invalid"
	ReasonBadRequest         = "BadRequest"
	ReasonUnauthorized       = "Unauthorized"
	ReasonForbidden          = "Forbidden"
	ReasonGone               = "Expired"
	ReasonMethodNotAllowed   = "MethodNotAllowed"
	ReasonRequestTooLarge    = "RequestEntityTooLarge"
	ReasonServiceUnavailable = "ServiceUnavailable"
	ReasonTimeout            = "Timeout"
	ReasonInternalError      = "InternalError"
	ReasonUnsupportedMedia   = "UnsupportedMediaType"
	ReasonTooManyRequests    = "TooManyRequests"
)

// Status is the API's answer for errors (and for some deletes).
type Status struct {
	TypeMeta `json:",inline"`
	ListMeta ListMeta       `json:"metadata"`
	Status   string         `json:"status,omitempty"`
	Message  string         `json:"message,omitempty"`
	Reason   string         `json:"reason,omitempty"`
	Details  *StatusDetails `json:"details,omitempty"`
	Code     int32          `json:"code,omitempty"`
}

// StatusDetails names the object a Status is about and lists field causes.
type StatusDetails struct {
	Name   string        `json:"name,omitempty"`
	Kind   string        `json:"kind,omitempty"`
	UID    string        `json:"uid,omitempty"`
	Causes []StatusCause `json:"causes,omitempty"`
	// RetryAfterSeconds, when set, is how long the client should wait
	// before it tries again (429 and some 5xx answers).
	RetryAfterSeconds int32 `json:"retryAfterSeconds,omitempty"`
}

// StatusCause is one reason, often one invalid field.
type StatusCause struct {
	Type    string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	Field   string `json:"field,omitempty"`
}

// StatusError is an error that carries an API Status. Every layer of orch
// returns these for failures the user should see; the HTTP code lives in the
// Status, so the mapping from error kind to HTTP code is made in one place:
// the constructors below.
type StatusError struct {
	Status Status
}

// Error implements error.
func (e *StatusError) Error() string { return e.Status.Message }

func newStatusError(code int, reason, kind, name, msg string) *StatusError {
	var d *StatusDetails
	if kind != "" || name != "" {
		d = &StatusDetails{Kind: kind, Name: name}
	}
	return &StatusError{Status: Status{
		TypeMeta: TypeMeta{Kind: "Status", APIVersion: APIVersion},
		Status:   "Failure", Message: msg, Reason: reason, Details: d, Code: int32(code),
	}}
}

// NewNotFound says that the named object does not exist.
func NewNotFound(resource, name string) *StatusError {
	return newStatusError(http.StatusNotFound, ReasonNotFound, resource, name,
		fmt.Sprintf("%s %q not found", resource, name))
}

// NewAlreadyExists says that the name is taken.
func NewAlreadyExists(resource, name string) *StatusError {
	return newStatusError(http.StatusConflict, ReasonAlreadyExists, resource, name,
		fmt.Sprintf("%s %q already exists", resource, name))
}

// NewConflict says that a precondition (usually resourceVersion) failed.
func NewConflict(resource, name, why string) *StatusError {
	return newStatusError(http.StatusConflict, ReasonConflict, resource, name,
		fmt.Sprintf("Operation cannot be fulfilled on %s %q: %s", resource, name, why))
}

// NewInvalid says which fields of an object are invalid.
func NewInvalid(kind, name string, causes []StatusCause) *StatusError {
	msg := fmt.Sprintf("%s %q is invalid", kind, name)
	for i, c := range causes {
		sep := ", "
		if i == 0 {
			sep = ": "
		}
		msg += sep + c.Message
	}
	e := newStatusError(http.StatusUnprocessableEntity, ReasonInvalid, kind, name, msg)
	if e.Status.Details == nil { // no kind and no name: still carry the causes
		e.Status.Details = &StatusDetails{}
	}
	e.Status.Details.Causes = causes
	return e
}

// NewUnprocessable says that the request is understood but cannot be
// carried out on the object as it is (a JSON patch whose test fails), with
// Kubernetes' 422 and reason Invalid and no field causes.
func NewUnprocessable(msg string) *StatusError {
	return newStatusError(http.StatusUnprocessableEntity, ReasonInvalid, "", "", msg)
}

// NewBadRequest says that the request cannot be understood.
func NewBadRequest(msg string) *StatusError {
	return newStatusError(http.StatusBadRequest, ReasonBadRequest, "", "", msg)
}

// NewUnauthorized says that the request has no valid credentials.
func NewUnauthorized(msg string) *StatusError {
	return newStatusError(http.StatusUnauthorized, ReasonUnauthorized, "", "", msg)
}

// NewForbidden says that the credentials do not allow the request.
func NewForbidden(msg string) *StatusError {
	return newStatusError(http.StatusForbidden, ReasonForbidden, "", "", msg)
}

// NewGone says that a resourceVersion is older than the history kept.
func NewGone(msg string) *StatusError {
	return newStatusError(http.StatusGone, ReasonGone, "", "", msg)
}

// NewMethodNotAllowed says that the verb is not supported on the path.
func NewMethodNotAllowed(msg string) *StatusError {
	return newStatusError(http.StatusMethodNotAllowed, ReasonMethodNotAllowed, "", "", msg)
}

// NewRequestTooLarge says that the body is over the limit.
func NewRequestTooLarge(msg string) *StatusError {
	return newStatusError(http.StatusRequestEntityTooLarge, ReasonRequestTooLarge, "", "", msg)
}

// NewUnsupportedMediaType says that the body's content type is not accepted.
func NewUnsupportedMediaType(msg string) *StatusError {
	return newStatusError(http.StatusUnsupportedMediaType, ReasonUnsupportedMedia, "", "", msg)
}

// NewServiceUnavailable says that the cluster cannot serve the request now.
func NewServiceUnavailable(msg string) *StatusError {
	return newStatusError(http.StatusServiceUnavailable, ReasonServiceUnavailable, "", "", msg)
}

// NewTimeout says that the request did not finish in time; it may still take effect.
func NewTimeout(msg string) *StatusError {
	return newStatusError(http.StatusGatewayTimeout, ReasonTimeout, "", "", msg)
}

// NewTooManyRequests says that the server is too busy to take the request
// now and that the client should try again after retryAfterSeconds, as
// Kubernetes answers when its in-flight limits are reached.
func NewTooManyRequests(msg string, retryAfterSeconds int) *StatusError {
	se := newStatusError(http.StatusTooManyRequests, ReasonTooManyRequests, "", "", msg)
	if retryAfterSeconds > 0 {
		se.Status.Details = &StatusDetails{RetryAfterSeconds: int32(retryAfterSeconds)}
	}
	return se
}

// NewInternalError wraps an unexpected error.
func NewInternalError(err error) *StatusError {
	return newStatusError(http.StatusInternalServerError, ReasonInternalError, "", "",
		fmt.Sprintf("internal error: %v", err))
}

// AsStatusError returns the *StatusError err carries, or an internal error
// (500) wrapping err when it carries none.
func AsStatusError(err error) *StatusError {
	var se *StatusError
	if errors.As(err, &se) {
		return se
	}
	return NewInternalError(err)
}

// ReasonOf returns the Status reason of err, or "" if err carries none.
func ReasonOf(err error) string {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Status.Reason
	}
	return ""
}

// CodeOf returns the HTTP code of err: its Status code, 500 for other errors, 200 for nil.
func CodeOf(err error) int {
	if err == nil {
		return http.StatusOK
	}
	var se *StatusError
	if errors.As(err, &se) && se.Status.Code != 0 {
		return int(se.Status.Code)
	}
	return http.StatusInternalServerError
}

// IsNotFound reports whether err is a NotFound Status.
func IsNotFound(err error) bool { return ReasonOf(err) == ReasonNotFound }

// IsAlreadyExists reports whether err is an AlreadyExists Status.
func IsAlreadyExists(err error) bool { return ReasonOf(err) == ReasonAlreadyExists }

// IsConflict reports whether err is a Conflict Status.
func IsConflict(err error) bool { return ReasonOf(err) == ReasonConflict }

// IsInvalid reports whether err is an Invalid Status.
func IsInvalid(err error) bool { return ReasonOf(err) == ReasonInvalid }

// IsGone reports whether err says a resourceVersion is too old.
func IsGone(err error) bool { return ReasonOf(err) == ReasonGone }
