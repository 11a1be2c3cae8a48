package main

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
)

// hintError adds advice to an error without hiding it.
type hintError struct {
	err  error
	hint string
}

func (e *hintError) Error() string { return e.err.Error() + " (" + e.hint + ")" }
func (e *hintError) Unwrap() error { return e.err }

// withHint adds hint to err.
func withHint(err error, hint string) error { return &hintError{err: err, hint: hint} }

// formatError renders err as the message orchctl prints before exiting 1:
// one line, Kubernetes style, with the field causes of an Invalid error on
// the lines after it. It returns "" for errors already reported.
func (a *app) formatError(err error) string {
	if err == nil || errors.Is(err, errReported) {
		return ""
	}
	var h *hintError
	if errors.As(err, &h) {
		return a.formatError(h.err) + " (" + h.hint + ")"
	}
	var unreachable *client.UnreachableError
	if errors.As(err, &unreachable) {
		return "error: " + unreachable.Error()
	}
	var unknown *client.UnknownOutcomeError
	if errors.As(err, &unknown) {
		return "error: " + unknown.Error()
	}
	var se *v1.StatusError
	if errors.As(err, &se) {
		return a.formatStatus(&se.Status)
	}
	return "error: " + err.Error()
}

func (a *app) formatStatus(st *v1.Status) string {
	if st.Code == http.StatusUnauthorized {
		return fmt.Sprintf("error: unauthorized: check the token in your config (%s)", a.tokenSource())
	}
	msg := st.Message
	if st.Code == http.StatusUnprocessableEntity && st.Details != nil && len(st.Details.Causes) > 0 {
		d := st.Details
		msg = fmt.Sprintf("%s %q is invalid:", d.Kind, d.Name)
		for _, c := range d.Causes {
			line := c.Message
			if c.Field != "" && !strings.HasPrefix(line, c.Field) {
				line = c.Field + ": " + line
			}
			msg += "\n* " + line
		}
	}
	if st.Reason == "" {
		return "Error from server: " + msg
	}
	return fmt.Sprintf("Error from server (%s): %s", st.Reason, msg)
}

// reportEach prints the error of one object of a multi-object command and
// says whether the command must stop: it goes on after API errors about
// that object, and stops when the cluster cannot be reached or the outcome
// of a write is unknown.
func (a *app) reportEach(err error) (stop bool) {
	fmt.Fprintln(a.errOut, a.formatError(err))
	var se *v1.StatusError
	return !errors.As(err, &se) || se.Status.Code == http.StatusUnauthorized
}
