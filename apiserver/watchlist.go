package apiserver

import (
	"net/url"

	"k8s.io/apimachinery/pkg/apis/meta/internalversion"
	"k8s.io/apimachinery/pkg/apis/meta/internalversion/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "orch.io/orch/api/v1"
)

// initialEventsEnd is the annotation of the BOOKMARK that ends a watch
// list's initial events, as Kubernetes names it.
const initialEventsEnd = metav1.InitialEventsAnnotationKey

// watchStart is how a watch begins, from its query parameters.
type watchStart struct {
	// initial says whether the current objects are sent first as ADDED.
	initial bool
	// endBookmark says whether a BOOKMARK annotated k8s.io/initial-events-end
	// follows the initial events (a watch list: sendInitialEvents=true with
	// allowWatchBookmarks).
	endBookmark bool
}

// parseWatchStart validates a watch's resourceVersionMatch and
// sendInitialEvents with apimachinery's own validation (the WatchList
// feature is on, as in Kubernetes since 1.32) and says how the watch
// starts. Without sendInitialEvents, a watch from resourceVersion "" or
// "0" sends the current objects first (the legacy semantics); with it,
// sendInitialEvents alone decides, and resourceVersionMatch=NotOlderThan
// makes the initial state at least as new as resourceVersion.
func parseWatchStart(q url.Values) (watchStart, error) {
	opts := internalversion.ListOptions{
		Watch:                true,
		ResourceVersion:      q.Get("resourceVersion"),
		ResourceVersionMatch: metav1.ResourceVersionMatch(q.Get("resourceVersionMatch")),
		AllowWatchBookmarks:  flag(q, "allowWatchBookmarks"),
		Continue:             q.Get("continue"),
	}
	if _, ok := q["sendInitialEvents"]; ok {
		b := flag(q, "sendInitialEvents")
		opts.SendInitialEvents = &b
	}
	if errs := validation.ValidateListOptions(&opts, true); len(errs) > 0 {
		causes := make([]v1.StatusCause, 0, len(errs))
		for _, fe := range errs {
			causes = append(causes, v1.StatusCause{Type: string(fe.Type), Message: fe.Error(), Field: fe.Field})
		}
		return watchStart{}, v1.NewInvalid("ListOptions.meta.k8s.io", "", causes)
	}
	if opts.SendInitialEvents == nil {
		return watchStart{initial: opts.ResourceVersion == "" || opts.ResourceVersion == "0"}, nil
	}
	send := *opts.SendInitialEvents
	return watchStart{initial: send, endBookmark: send && opts.AllowWatchBookmarks}, nil
}

// checkListSendInitialEvents refuses sendInitialEvents on a list, as
// Kubernetes does: only a watch sends initial events.
func checkListSendInitialEvents(q url.Values) error {
	if _, ok := q["sendInitialEvents"]; !ok {
		return nil
	}
	return v1.NewInvalid("ListOptions.meta.k8s.io", "", []v1.StatusCause{{Type: "FieldValueForbidden",
		Message: "sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list", Field: "sendInitialEvents"}})
}
