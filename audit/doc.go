// Package audit writes the API server's audit log as kube-apiserver does:
// one audit.k8s.io/v1 Event per request and stage, as a JSON line, at the
// level an audit.k8s.io/v1 Policy gives the request (None, Metadata,
// Request or RequestResponse).
//
// Handler is the HTTP middleware: it gives each request an audit ID (the
// Audit-Id response header), learns the user and the authorization
// decision from the handlers it wraps (SetUser, SetAuthorization), and
// hands finished events to a Sink. Log is the file Sink: a bounded queue in
// front of a writer goroutine and a lumberjack file that rotates by size,
// count and age. A full queue drops the event (counted in
// orch_audit_events_dropped_total) rather than hold up the request.
//
// Stages: a request yields its ResponseComplete event (or Panic); a
// long-running one (watch, logs, a proxied upgrade) also a ResponseStarted
// event when its response starts; RequestReceived is written when the
// policy does not omit it (DefaultPolicy omits it, so that each request is
// one line).
package audit
