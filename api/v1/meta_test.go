package v1

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestTimeJSON(t *testing.T) {
	ist := time.FixedZone("IST", 5*3600+1800)
	tests := []struct {
		name string
		in   Time
		want string
	}{
		{"zero is null", Time{}, `null`},
		{"UTC", Time{time.Date(2024, 5, 17, 8, 30, 0, 0, time.UTC)}, `"2024-05-17T08:30:00Z"`},
		{"other zone is written in UTC", Time{time.Date(2024, 5, 17, 14, 0, 0, 0, ist)}, `"2024-05-17T08:30:00Z"`},
		{"sub-second is dropped", Time{time.Date(2024, 5, 17, 8, 30, 0, 999999999, time.UTC)}, `"2024-05-17T08:30:00Z"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Fatalf("marshal = %s, want %s", b, tt.want)
			}
			var back Time
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatalf("unmarshal %s: %v", b, err)
			}
			if want := NewTime(tt.in.Time); !tt.in.IsZero() && !back.Equal(want.Time) {
				t.Errorf("round trip = %v, want %v", back, want)
			}
			if tt.in.IsZero() && !back.IsZero() {
				t.Errorf("round trip of zero = %v", back)
			}
			// NewTime is exactly what survives a round trip.
			if !tt.in.IsZero() && back != NewTime(tt.in.Time) {
				t.Errorf("round trip %#v != NewTime %#v", back, NewTime(tt.in.Time))
			}
		})
	}
}

// A time outside the years 0001-9999 cannot be written, so a bad value
// made in code fails at encode rather than producing unreadable JSON.
func TestTimeMarshalOutOfRange(t *testing.T) {
	for _, tm := range []time.Time{
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 0, 0, 0, time.FixedZone("west", -3600)),
		time.Date(0, 12, 31, 0, 0, 0, 0, time.UTC),
	} {
		if b, err := json.Marshal(Time{tm}); err == nil {
			t.Errorf("marshal %v = %s, want an error", tm, b)
		}
	}
}

func TestTimeUnmarshal(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{in: `null`},
		{in: `""`},
		{in: `"2024-05-17T08:30:00Z"`, want: time.Date(2024, 5, 17, 8, 30, 0, 0, time.UTC)},
		{in: `"2024-05-17T10:30:00+02:00"`, want: time.Date(2024, 5, 17, 8, 30, 0, 0, time.UTC)},
		{in: `"2024-05-17T08:30:00.5Z"`, want: time.Date(2024, 5, 17, 8, 30, 0, 5e8, time.UTC)},
		{in: `"2024-05-17 08:30:00"`, wantErr: true},
		{in: `"yesterday"`, wantErr: true},
		{in: `1715934600`, wantErr: true},
		// An offset that moves the time past 9999 once in UTC would be
		// written as year 10000, which no RFC 3339 decoder reads back.
		{in: `"9999-12-31T23:59:59-23:59"`, wantErr: true},
		{in: `"9999-12-31T23:59:59Z"`, want: time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)},
		{in: `"9999-12-31T23:59:59+01:00"`, want: time.Date(9999, 12, 31, 22, 59, 59, 0, time.UTC)},
		{in: `"0001-01-01T00:30:00+01:00"`, wantErr: true},
		{in: `"0001-01-01T00:30:00Z"`, want: time.Date(1, 1, 1, 0, 30, 0, 0, time.UTC)},
		{in: `"0000-06-01T00:00:00Z"`, wantErr: true},
		// Escapes take the slow path and mean the same.
		{in: `"\u0032024-05-17T08:30:00Z"`, want: time.Date(2024, 5, 17, 8, 30, 0, 0, time.UTC)},
		{in: `"2024-05-17T08:30:00\u005a"`, want: time.Date(2024, 5, 17, 8, 30, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			tm := Time{time.Now()} // must be overwritten, also by null
			err := json.Unmarshal([]byte(tt.in), &tm)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("unmarshal %s: got %v, want an error", tt.in, tm)
				}
				return
			}
			if err != nil {
				t.Fatalf("unmarshal %s: %v", tt.in, err)
			}
			if !tm.Equal(tt.want) || (tt.want.IsZero() != tm.IsZero()) {
				t.Errorf("unmarshal %s = %v, want %v", tt.in, tm.Time, tt.want)
			}
			if !tm.IsZero() && tm.Location() != time.UTC {
				t.Errorf("location = %v, want UTC", tm.Location())
			}
		})
	}
}

// Times inside objects round-trip, and pointers to times stay absent when nil.
func TestTimeInObject(t *testing.T) {
	created := NewTime(time.Date(2024, 1, 2, 3, 4, 5, 600, time.UTC))
	del := NewTime(created.Add(30 * time.Second))
	in := ObjectMeta{Name: "a", CreationTimestamp: created, DeletionTimestamp: &del}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"creationTimestamp":"2024-01-02T03:04:05Z"`) ||
		!strings.Contains(string(b), `"deletionTimestamp":"2024-01-02T03:04:35Z"`) {
		t.Errorf("encoded meta = %s", b)
	}
	var out ObjectMeta
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out.CreationTimestamp != created || out.DeletionTimestamp == nil || *out.DeletionTimestamp != del {
		t.Errorf("round trip = %+v, want %+v", out, in)
	}

	b, err = json.Marshal(ObjectMeta{Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "deletionTimestamp") {
		t.Errorf("nil deletionTimestamp encoded: %s", b)
	}
	// Kubernetes writes "creationTimestamp": null for unset times; it must load.
	if err := json.Unmarshal([]byte(`{"name":"a","creationTimestamp":null}`), &out); err != nil || !out.CreationTimestamp.IsZero() {
		t.Errorf("creationTimestamp null: %v %v", err, out.CreationTimestamp)
	}
}

func TestResourceVersionIndex(t *testing.T) {
	for _, tt := range []struct {
		rv   string
		want uint64
	}{{"", 0}, {"0", 0}, {"42", 42}, {"18446744073709551615", 1<<64 - 1}, {"-1", 0}, {"abc", 0}, {"1e3", 0}} {
		m := ObjectMeta{ResourceVersion: tt.rv}
		if got := m.ResourceVersionIndex(); got != tt.want {
			t.Errorf("ResourceVersionIndex(%q) = %d, want %d", tt.rv, got, tt.want)
		}
	}
	var m ObjectMeta
	m.SetResourceVersionIndex(12345)
	if m.ResourceVersion != "12345" || m.ResourceVersionIndex() != 12345 {
		t.Errorf("SetResourceVersionIndex: %q", m.ResourceVersion)
	}
}

func TestControllerRef(t *testing.T) {
	yes, no := true, false
	m := ObjectMeta{OwnerReferences: []OwnerReference{
		{Kind: "A", Name: "a", UID: "1"},
		{Kind: "B", Name: "b", UID: "2", Controller: &no},
		{Kind: "C", Name: "c", UID: "3", Controller: &yes},
	}}
	if ref := m.ControllerRef(); ref == nil || ref.UID != "3" {
		t.Errorf("ControllerRef = %+v, want uid 3", ref)
	}
	m.OwnerReferences = m.OwnerReferences[:2]
	if ref := m.ControllerRef(); ref != nil {
		t.Errorf("ControllerRef = %+v, want nil", ref)
	}
}

func TestStatusErrors(t *testing.T) {
	tests := []struct {
		name   string
		err    *StatusError
		code   int
		reason string
		is     string // the Is* predicate that holds, if any
	}{
		{"not found", NewNotFound("pods", "web"), http.StatusNotFound, ReasonNotFound, "IsNotFound"},
		{"already exists", NewAlreadyExists("pods", "web"), http.StatusConflict, ReasonAlreadyExists, "IsAlreadyExists"},
		{"conflict", NewConflict("pods", "web", "stale"), http.StatusConflict, ReasonConflict, "IsConflict"},
		{"invalid", NewInvalid("Pod", "web", []StatusCause{{Type: "FieldValueInvalid", Field: "metadata.name", Message: "bad"}}),
			http.StatusUnprocessableEntity, ReasonInvalid, "IsInvalid"},
		{"gone", NewGone("too old"), http.StatusGone, ReasonGone, "IsGone"},
		{"bad request", NewBadRequest("what"), http.StatusBadRequest, ReasonBadRequest, ""},
		{"unauthorized", NewUnauthorized("who"), http.StatusUnauthorized, ReasonUnauthorized, ""},
		{"forbidden", NewForbidden("no"), http.StatusForbidden, ReasonForbidden, ""},
		{"method not allowed", NewMethodNotAllowed("no"), http.StatusMethodNotAllowed, ReasonMethodNotAllowed, ""},
		{"too large", NewRequestTooLarge("big"), http.StatusRequestEntityTooLarge, ReasonRequestTooLarge, ""},
		{"media type", NewUnsupportedMediaType("xml"), http.StatusUnsupportedMediaType, ReasonUnsupportedMedia, ""},
		{"unavailable", NewServiceUnavailable("no quorum"), http.StatusServiceUnavailable, ReasonServiceUnavailable, ""},
		{"timeout", NewTimeout("slow"), http.StatusGatewayTimeout, ReasonTimeout, ""},
		{"internal", NewInternalError(errors.New("boom")), http.StatusInternalServerError, ReasonInternalError, ""},
	}
	predicates := map[string]func(error) bool{
		"IsNotFound": IsNotFound, "IsAlreadyExists": IsAlreadyExists, "IsConflict": IsConflict,
		"IsInvalid": IsInvalid, "IsGone": IsGone,
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.err.Status
			if s.Kind != "Status" || s.APIVersion != "v1" || s.Status != "Failure" {
				t.Errorf("status header = %q %q %q", s.Kind, s.APIVersion, s.Status)
			}
			if int(s.Code) != tt.code || s.Reason != tt.reason {
				t.Errorf("code %d reason %q, want %d %q", s.Code, s.Reason, tt.code, tt.reason)
			}
			if s.Message == "" || tt.err.Error() != s.Message {
				t.Errorf("Error() = %q, message %q", tt.err.Error(), s.Message)
			}
			// Wrapping keeps the kind of the error.
			wrapped := fmt.Errorf("apply: %w", tt.err)
			if CodeOf(wrapped) != tt.code || ReasonOf(wrapped) != tt.reason {
				t.Errorf("wrapped: code %d reason %q", CodeOf(wrapped), ReasonOf(wrapped))
			}
			for name, is := range predicates {
				if got, want := is(wrapped), name == tt.is; got != want {
					t.Errorf("%s = %v, want %v", name, got, want)
				}
			}
		})
	}
}

func TestCodeOfPlainErrors(t *testing.T) {
	if got := CodeOf(nil); got != http.StatusOK {
		t.Errorf("CodeOf(nil) = %d", got)
	}
	if got := CodeOf(errors.New("x")); got != http.StatusInternalServerError {
		t.Errorf("CodeOf(plain) = %d", got)
	}
	if got := ReasonOf(errors.New("x")); got != "" {
		t.Errorf("ReasonOf(plain) = %q", got)
	}
	if IsNotFound(nil) || IsConflict(errors.New("Conflict")) {
		t.Error("predicate true for a non-Status error")
	}
}

func TestStatusJSON(t *testing.T) {
	err := NewInvalid("Pod", "web", []StatusCause{
		{Type: "FieldValueInvalid", Field: "metadata.name", Message: "metadata.name: Invalid value"},
		{Type: "FieldValueRequired", Field: "spec.containers", Message: "spec.containers: Required value"},
	})
	if want := `Pod "web" is invalid: metadata.name: Invalid value, spec.containers: Required value`; err.Error() != want {
		t.Errorf("message = %q, want %q", err.Error(), want)
	}
	b, jerr := json.Marshal(err.Status)
	if jerr != nil {
		t.Fatal(jerr)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	// The shape Kubernetes clients decode.
	for k, want := range map[string]any{"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Invalid", "code": 422.0} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v (in %s)", k, got[k], want, b)
		}
	}
	if _, ok := got["metadata"].(map[string]any); !ok {
		t.Errorf("metadata missing in %s", b)
	}
	details, _ := got["details"].(map[string]any)
	causes, _ := details["causes"].([]any)
	if details["kind"] != "Pod" || details["name"] != "web" || len(causes) != 2 {
		t.Fatalf("details = %v", details)
	}
	if c := causes[0].(map[string]any); c["reason"] != "FieldValueInvalid" || c["field"] != "metadata.name" {
		t.Errorf("cause = %v, want reason and field keys", c)
	}

	// A Status without kind and name still carries its causes.
	anon := NewInvalid("", "", []StatusCause{{Field: "kind", Message: "unsupported"}})
	if anon.Status.Details == nil || len(anon.Status.Details.Causes) != 1 {
		t.Errorf("anonymous Invalid lost its causes: %+v", anon.Status)
	}
	// Errors other than Invalid leave details out when there is nothing to say.
	if NewBadRequest("x").Status.Details != nil {
		t.Error("BadRequest has details")
	}
	if d := NewNotFound("pods", "web").Status.Details; d == nil || d.Kind != "pods" || d.Name != "web" {
		t.Errorf("NotFound details = %+v", d)
	}
}

// Selectors and the resource registry are small enough to be tested here.

func TestParseFieldSelector(t *testing.T) {
	pod := &Pod{ObjectMeta: ObjectMeta{Name: "web", Namespace: "shop"}, Spec: PodSpec{NodeName: "n1"},
		Status: PodStatus{Phase: PodRunning, PodIP: "10.244.1.5"}}
	node := &Node{ObjectMeta: ObjectMeta{Name: "n1"}}
	tests := []struct {
		kind, sel   string
		wantErr     bool
		node        string
		hasNode     bool
		matchesPod  bool
		matchesNode bool
	}{
		{kind: "Pod", sel: "", matchesPod: true, matchesNode: true},
		{kind: "Pod", sel: "spec.nodeName=n1", node: "n1", hasNode: true, matchesPod: true},
		{kind: "Pod", sel: "spec.nodeName==n1", node: "n1", hasNode: true, matchesPod: true},
		{kind: "Pod", sel: "spec.nodeName=", node: "", hasNode: true},
		{kind: "Pod", sel: "spec.nodeName!=n1"},
		{kind: "Pod", sel: "spec.nodeName=n1,status.phase=Running", node: "n1", hasNode: true, matchesPod: true},
		{kind: "Pod", sel: "status.podIP=10.244.1.5,metadata.namespace=shop", matchesPod: true},
		{kind: "Pod", sel: "metadata.name=web", matchesPod: true},
		{kind: "Node", sel: "metadata.name=n1", matchesNode: true},
		{kind: "Node", sel: "spec.nodeName=n1", wantErr: true},
		{kind: "Pod", sel: "spec.containers=x", wantErr: true},
		{kind: "Pod", sel: "spec.nodeName", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.kind+" "+tt.sel, func(t *testing.T) {
			fs, err := ParseFieldSelector(tt.kind, tt.sel)
			if tt.wantErr {
				if err == nil {
					t.Fatal("want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fs.HasNodeName != tt.hasNode || fs.NodeName != tt.node {
				t.Errorf("node = %q %v, want %q %v", fs.NodeName, fs.HasNodeName, tt.node, tt.hasNode)
			}
			if got := fs.Matches(pod); got != tt.matchesPod {
				t.Errorf("Matches(pod) = %v", got)
			}
			if got := fs.Matches(node); got != tt.matchesNode && tt.kind == "Node" {
				t.Errorf("Matches(node) = %v", got)
			}
		})
	}
	var none *FieldSelector
	if !none.Matches(pod) {
		t.Error("nil selector does not match")
	}
}

func TestLabelSelectors(t *testing.T) {
	set := map[string]string{"app": "web", "tier": "fe"}
	for _, tt := range []struct {
		sel  string
		want bool
		err  bool
	}{
		{"", true, false}, {"app=web", true, false}, {"app==web,tier", true, false}, {"app in (db,web)", true, false},
		{"app notin (web)", false, false}, {"!tier", false, false}, {"app=db", false, false}, {"app in (", false, true},
	} {
		sel, err := ParseLabelSelector(tt.sel)
		if tt.err {
			if err == nil {
				t.Errorf("%q: want an error", tt.sel)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", tt.sel, err)
		}
		if got := sel.Matches(labelSet(set)); got != tt.want {
			t.Errorf("%q matches %v = %v, want %v", tt.sel, set, got, tt.want)
		}
	}
	// RC and Service selectors: an empty map selects nothing.
	if SelectorFromMap(nil).Matches(labelSet(set)) || SelectorFromMap(map[string]string{}).Matches(labelSet(nil)) {
		t.Error("empty map selector matches")
	}
	if !SelectorFromMap(map[string]string{"app": "web"}).Matches(LabelsOf(&Pod{ObjectMeta: ObjectMeta{Labels: set}})) {
		t.Error("map selector does not match a superset")
	}
}

func TestResources(t *testing.T) {
	for _, tt := range []struct {
		name, want string
		namespaced bool
	}{
		{"pods", "Pod", true}, {"pod", "Pod", true}, {"Pod", "Pod", true}, {"po", "Pod", true},
		{"rc", "ReplicationController", true}, {"replicationcontrollers", "ReplicationController", true},
		{"svc", "Service", true}, {"endpoints", "Endpoints", true}, {"ep", "Endpoints", true},
		{"ns", "Namespace", false}, {"nodes", "Node", false}, {"no", "Node", false},
	} {
		r, ok := ResourceByName(tt.name)
		if !ok || r.Kind != tt.want || r.Namespaced != tt.namespaced {
			t.Errorf("ResourceByName(%q) = %+v %v", tt.name, r, ok)
			continue
		}
		obj := r.New()
		if KindOf(obj) != r.Kind {
			t.Errorf("%s.New() is a %s", r.Name, KindOf(obj))
		}
	}
	if _, ok := ResourceByName("widgets"); ok {
		t.Error("widgets found")
	}
	if _, err := ResourceOf(&Scale{}); err == nil {
		t.Error("ResourceOf(Scale) succeeded")
	}
	names := ResourceNames()
	if !slices.IsSorted(names) || len(names) != len(Resources()) {
		t.Errorf("ResourceNames = %v", names)
	}
	rs := Resources()
	rs[0].Name = "changed"
	if Resources()[0].Name == "changed" {
		t.Error("Resources returns the registry itself")
	}
	if Key("", "n1") != "n1" || Key("ns", "p") != "ns/p" {
		t.Error("Key")
	}
}

func TestDeepCopy(t *testing.T) {
	p := validPod()
	p.Status.Conditions = []PodCondition{{Type: PodReady, Status: ConditionTrue}}
	c := DeepCopy(p)
	if c == p || !JSONEqual(c, p) {
		t.Fatal("copy differs or is the same pointer")
	}
	c.Labels["app"] = "changed"
	c.Spec.Containers[0].Image = "changed"
	c.Status.Conditions[0].Status = ConditionFalse
	if p.Labels["app"] != "web" || p.Spec.Containers[0].Image != "nginx:1.27" || !p.IsReady() {
		t.Error("changing the copy changed the original")
	}
	if c.IsReady() {
		t.Error("IsReady of the copy")
	}
	n := &Node{Status: NodeStatus{Conditions: []NodeCondition{{Type: NodeReady, Status: ConditionTrue}}}}
	if c := n.Status.Condition(NodeReady); c == nil || c.Status != ConditionTrue || n.Status.Condition("Other") != nil {
		t.Error("NodeStatus.Condition")
	}
}
