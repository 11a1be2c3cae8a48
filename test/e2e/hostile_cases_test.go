package e2e

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"

	v1 "orch.io/orch/api/v1"
)

const (
	podsPath  = "/api/v1/namespaces/default/pods"
	keepPath  = podsPath + "/keep"
	nodesPath = "/api/v1/nodes"
	nodePath  = nodesPath + "/" + hostileNode
	rcsPath   = "/api/v1/namespaces/default/replicationcontrollers"
	rcPath    = rcsPath + "/rc"
	// farFuture is a time that is in year 9999 where it was written and in
	// year 10000 in UTC: it cannot round-trip through RFC 3339 in UTC.
	farFuture = "9999-12-31T23:59:59-23:59"
	// maxUint64 is 2^64-1, the largest resourceVersion that parses.
	maxUint64 = "18446744073709551615"
)

// podSpec is a pod spec nobody schedules, with extra container fields.
func podSpec(container, spec string) string {
	return `{"schedulerName":"` + unscheduled + `"` + spec + `,"containers":[{"name":"c","image":"busybox"` + container + `}]}`
}

// podJSON is a pod's body: metadata fields, then spec and status as given.
func podJSON(meta, spec, status string) []byte {
	b := `{"apiVersion":"v1","kind":"Pod","metadata":{` + meta + `},"spec":` + spec
	if status != "" {
		b += `,"status":` + status
	}
	return []byte(b + `}`)
}

// newPod is a pod create with extra metadata and container fields.
func newPod(name, meta, container string) []byte {
	return podJSON(`"name":"`+name+`"`+meta, podSpec(container, ""), "")
}

// keepStatus is a status update of the pod "keep".
func keepStatus(meta, status string) []byte {
	return podJSON(`"name":"keep","namespace":"default"`+meta, podSpec("", ""), status)
}

// nodeStatus is a status update of the suite's node.
func nodeStatus(meta, status string) []byte {
	return []byte(`{"apiVersion":"v1","kind":"Node","metadata":{"name":"` + hostileNode + `"` + meta + `},"status":` + status + `}`)
}

// readyStatus is a node status with a Ready condition whose fields are extra.
func readyStatus(cond string) string {
	return `{"capacity":{"cpu":"4","memory":"8Gi","pods":"110"},"conditions":[{"type":"Ready","status":"True"` + cond + `}]}`
}

// capacity is a node status with the given capacity.
func capacity(list string) string {
	return `{"capacity":{` + list + `},"allocatable":{` + list + `},"conditions":[{"type":"Ready","status":"True"}]}`
}

// rcJSON is an RC create whose template carries extra metadata and container fields.
func rcJSON(name, templateMeta, container string) []byte {
	return []byte(`{"apiVersion":"v1","kind":"ReplicationController","metadata":{"name":"` + name + `"},"spec":{"replicas":1,"selector":{"app":"x"},` +
		`"template":{"metadata":{"labels":{"app":"x"}` + templateMeta + `},"spec":` + podSpec(container, "") + `}}}`)
}

func q(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

func resources(kind, list string) string { return `,"resources":{"` + kind + `":{` + list + `}}` }

// hostileCases is the one table of hostile inputs: the issue's, and the
// older bad-input table's (issue 2).
func hostileCases(fx hostileFixtures) []hostileCase {
	bad400 := func(says string) want { return want{400, v1.ReasonBadRequest, says} }
	invalid := func(says string) want { return want{422, v1.ReasonInvalid, says} }
	tooLarge := func(says string) want { return want{413, v1.ReasonRequestTooLarge, says} }

	deep := []byte(strings.Repeat("[", 10000) + strings.Repeat("]", 10000))
	// A body over the 3 MiB limit, and an object under it that encodes to
	// more than 1.5 MiB.
	bigBody := newPod("big", `,"annotations":{"a":"`+strings.Repeat("x", 3<<20+10)+`"}`, "")
	bigObject := newPod("big", "", `,"args":["`+strings.Repeat("x", 1600<<10)+`"]`)
	bigNodeObject := nodeStatus("", readyStatus(`,"message":"`+strings.Repeat("x", 1600<<10)+`"`))
	bigNodeBody := nodeStatus("", readyStatus(`,"message":"`+strings.Repeat("x", 3<<20+10)+`"`))

	staleKeep := v1.DeepCopy(fx.pod)
	staleKeep.ResourceVersion = "1"
	staleKeep.Labels = map[string]string{"changed": "yes"}
	staleNode := v1.DeepCopy(fx.node)
	staleNode.ResourceVersion = "1"
	staleNode.Labels = map[string]string{"changed": "yes"}
	noToken, wrongToken := "", "not-the-token"

	return []hostileCase{
		// Times that cannot round-trip: the crash.
		{name: "pod status time past 9999", method: http.MethodPut, path: keepPath + "/status",
			body: keepStatus("", `{"phase":"Pending","conditions":[{"type":"Ready","status":"False","lastTransitionTime":"`+farFuture+`"}]}`),
			want: bad400("outside the years 0001-9999")},
		{name: "node status time past 9999", method: http.MethodPut, path: nodePath + "/status",
			body: nodeStatus("", readyStatus(`,"lastTransitionTime":"`+farFuture+`"`)), want: bad400("outside the years 0001-9999")},
		{name: "node heartbeat past 9999", method: http.MethodPut, path: nodePath + "/status",
			body: nodeStatus("", readyStatus(`,"lastHeartbeatTime":"`+farFuture+`"`)), want: bad400("outside the years 0001-9999")},
		{name: "pod status patch past 9999", method: http.MethodPatch, path: keepPath + "/status", contentType: "application/merge-patch+json",
			body: []byte(`{"status":{"conditions":[{"type":"Ready","status":"False","lastTransitionTime":"` + farFuture + `"}]}}`),
			want: bad400("outside the years 0001-9999")},
		{name: "rc template creationTimestamp past 9999", method: http.MethodPost, path: rcsPath,
			body: rcJSON("future", `,"creationTimestamp":"`+farFuture+`"`, ""), want: bad400("outside the years 0001-9999"), node: nodeForbidden},
		{name: "rc update whose template time is past 9999", method: http.MethodPut, path: rcPath,
			body: rcJSON("rc", `,"creationTimestamp":"`+farFuture+`"`, ""), want: bad400("outside the years 0001-9999"), node: nodeForbidden},
		{name: "rc patch whose template time is past 9999", method: http.MethodPatch, path: rcPath, contentType: "application/merge-patch+json",
			body: []byte(`{"spec":{"template":{"metadata":{"creationTimestamp":"` + farFuture + `"}}}}`), want: bad400("outside the years 0001-9999"), node: nodeForbidden},
		{name: "pod creationTimestamp past 9999", method: http.MethodPost, path: podsPath,
			body: newPod("future", `,"creationTimestamp":"`+farFuture+`"`, ""), want: bad400("outside the years 0001-9999"), node: nodeForbidden},
		{name: "a time that is not RFC 3339", method: http.MethodPut, path: nodePath + "/status",
			body: nodeStatus("", readyStatus(`,"lastHeartbeatTime":"yesterday"`)), want: bad400("not RFC 3339")},

		// Quantities.
		{name: "requests.cpu 9223372036854776", method: http.MethodPost, path: podsPath,
			body: newPod("cpu", "", resources("requests", `"cpu":"9223372036854776"`)), want: invalid("requests[cpu]"), node: nodeForbidden},
		{name: "limits.memory 1e30", method: http.MethodPost, path: podsPath,
			body: newPod("mem", "", resources("limits", `"memory":"1e30"`)), want: invalid("limits[memory]"), node: nodeForbidden},
		{name: "a limit named foo", method: http.MethodPost, path: podsPath,
			body: newPod("foo", "", resources("limits", `"foo":"1"`)), want: invalid("limits[foo]"), node: nodeForbidden},
		{name: "a fractional extended resource", method: http.MethodPost, path: podsPath,
			body: newPod("gpu", "", `,"resources":{"requests":{"example.com/gpu":"500m"},"limits":{"example.com/gpu":"500m"}}`),
			want: invalid("example.com/gpu"), node: nodeForbidden},
		{name: "a quantity that does not parse", method: http.MethodPost, path: podsPath,
			body: newPod("nan", "", resources("requests", `"cpu":"lots"`)), want: bad400("quantities must match"), node: nodeForbidden},
		{name: "rc template cpu overflow", method: http.MethodPost, path: rcsPath,
			body: rcJSON("cpu", "", resources("requests", `"cpu":"9223372036854776"`)), want: invalid("requests[cpu]"), node: nodeForbidden},
		{name: "node capacity cpu overflow", method: http.MethodPut, path: nodePath + "/status",
			body: nodeStatus("", capacity(`"cpu":"9223372036854776","memory":"8Gi","pods":"110"`)), want: invalid("capacity[cpu]")},
		{name: "node capacity memory 1e30", method: http.MethodPut, path: nodePath + "/status",
			body: nodeStatus("", capacity(`"cpu":"4","memory":"1e30","pods":"110"`)), want: invalid("capacity[memory]")},
		{name: "node capacity pods overflow", method: http.MethodPut, path: nodePath + "/status",
			body: nodeStatus("", capacity(`"cpu":"4","memory":"8Gi","pods":"9223372036854775807"`)), want: invalid("capacity[pods]")},
		{name: "node status patch with overflowing capacity", method: http.MethodPatch, path: nodePath + "/status", contentType: "application/merge-patch+json",
			body: []byte(`{"status":{"allocatable":{"memory":"1e30"}}}`), want: invalid("allocatable[memory]")},
		{name: "node registered with overflowing capacity", method: http.MethodPost, path: nodesPath,
			body: []byte(`{"metadata":{"name":"overflow"},"status":` + capacity(`"cpu":"9223372036854776"`) + `}`), want: invalid("capacity[cpu]")},
		{name: "negative replicas", method: http.MethodPost, path: rcsPath,
			body: bytes.Replace(rcJSON("neg", "", ""), []byte(`"replicas":1`), []byte(`"replicas":-1`), 1), want: invalid("spec.replicas"), node: nodeForbidden},
		{name: "replicas past int32", method: http.MethodPost, path: rcsPath,
			body: bytes.Replace(rcJSON("i32", "", ""), []byte(`"replicas":1`), []byte(`"replicas":4294967296`), 1), want: bad400("replicas"), node: nodeForbidden},

		// Loose decoding.
		{name: "duplicate keys", method: http.MethodPost, path: podsPath,
			body: podJSON(`"name":"a","name":"b"`, podSpec("", ""), ""), want: bad400(`duplicate field "metadata.name"`), node: nodeForbidden},
		{name: "duplicate keys in a node status", method: http.MethodPut, path: nodePath + "/status",
			body: nodeStatus("", `{"phase":"Running","phase":"Pending","conditions":[{"type":"Ready","status":"True"}]}`), want: bad400(`duplicate field "status.phase"`)},
		{name: "duplicate keys in a pod status", method: http.MethodPut, path: keepPath + "/status",
			body: keepStatus("", `{"phase":"Running","phase":"Failed"}`), want: bad400(`duplicate field "status.phase"`)},
		{name: "case-variant key", method: http.MethodPost, path: podsPath,
			body: podJSON(`"name":"a","Name":"b"`, podSpec("", ""), ""), want: bad400(`unknown field "metadata.Name"`), node: nodeForbidden},
		{name: "case-variant key in a node status", method: http.MethodPut, path: nodePath + "/status",
			body: nodeStatus("", `{"Phase":"Running","conditions":[{"type":"Ready","status":"True"}]}`), want: bad400(`unknown field "status.Phase"`)},
		{name: "unknown nested field", method: http.MethodPost, path: podsPath,
			body: newPod("u", "", `,"imagee":"x"`), want: bad400(`unknown field "spec.containers[0].imagee"`), node: nodeForbidden},
		{name: "unknown nested field in a pod status", method: http.MethodPut, path: keepPath + "/status",
			body: keepStatus("", `{"conditions":[{"type":"Ready","status":"True","bogus":1}]}`), want: bad400(`unknown field "status.conditions[0].bogus"`)},
		{name: "unknown top-level field", method: http.MethodPost, path: podsPath,
			body: []byte(`{"metadata":{"name":"u"},"spec":{"containers":[{"name":"c","image":"b"}]},"bogus":1}`), want: bad400(`unknown field "bogus"`), node: nodeForbidden},
		{name: "two JSON values", method: http.MethodPost, path: podsPath,
			body: append(newPod("two", "", ""), newPod("three", "", "")...), want: bad400("does not decode"), node: nodeForbidden},
		{name: "two JSON values in a node status", method: http.MethodPut, path: nodePath + "/status",
			body: append(nodeStatus("", readyStatus("")), nodeStatus("", readyStatus(""))...), want: bad400("does not decode")},
		{name: "JSON nested 10,000 deep", method: http.MethodPost, path: podsPath, body: deep, want: bad400("nested deeper"), node: nodeForbidden},
		{name: "JSON nested 10,000 deep in a node status", method: http.MethodPut, path: nodePath + "/status", body: deep, want: bad400("nested deeper")},
		{name: "duplicate keys in a merge patch", method: http.MethodPatch, path: nodePath, contentType: "application/merge-patch+json",
			body: []byte(`{"metadata":{"labels":{"a":"1","a":"2"}}}`), want: bad400(`duplicate field`)},
		{name: "unknown field in a merge patch", method: http.MethodPatch, path: nodePath, contentType: "application/merge-patch+json",
			body: []byte(`{"spec":{"unschedulabel":true}}`), want: bad400(`unknown field "spec.unschedulabel"`)},
		{name: "a body that is not JSON", method: http.MethodPut, path: nodePath + "/status", body: []byte(`status: {}`), want: bad400("does not decode")},
		{name: "an empty body", method: http.MethodPost, path: podsPath, body: []byte(` `), want: bad400("empty"), node: nodeForbidden},
		{name: "a YAML content type", method: http.MethodPost, path: podsPath, contentType: "application/yaml", body: newPod("y", "", ""),
			want: want{415, v1.ReasonUnsupportedMedia, "application/yaml"}, node: nodeForbidden},

		// Sizes.
		{name: "body over 3 MiB", method: http.MethodPost, path: podsPath, body: bigBody, want: tooLarge("larger than the limit"), node: nodeForbidden},
		{name: "node status body over 3 MiB", method: http.MethodPut, path: nodePath + "/status", body: bigNodeBody, want: tooLarge("larger than the limit")},
		{name: "object over 1.5 MiB once encoded", method: http.MethodPost, path: podsPath, body: bigObject, want: tooLarge("1572864"), node: nodeForbidden},
		{name: "node status over 1.5 MiB once encoded", method: http.MethodPut, path: nodePath + "/status", body: bigNodeObject, want: tooLarge("1572864")},

		// resourceVersions.
		{name: "list from a bad resourceVersion", method: http.MethodGet, path: podsPath, query: q("resourceVersion", "abc"),
			want: bad400(`resourceVersion: Invalid value: "abc"`)},
		{name: "get from a negative resourceVersion", method: http.MethodGet, path: keepPath, query: q("resourceVersion", "-1"),
			want: bad400(`resourceVersion: Invalid value: "-1"`)},
		{name: "watch from a bad resourceVersion", method: http.MethodGet, path: podsPath, query: q("watch", "true", "resourceVersion", "x1"),
			want: bad400(`resourceVersion: Invalid value: "x1"`)},
		{name: "watch from 2^64-1", method: http.MethodGet, path: podsPath, query: q("watch", "true", "resourceVersion", maxUint64),
			want: want{504, v1.ReasonTimeout, "Too large resource version: " + maxUint64}},
		{name: "watch from beyond 2^64", method: http.MethodGet, path: podsPath, query: q("watch", "true", "resourceVersion", "18446744073709551616"),
			want: bad400("resourceVersion: Invalid value")},
		{name: "list from the future", method: http.MethodGet, path: podsPath, query: q("resourceVersion", "999999999"),
			want: want{504, v1.ReasonTimeout, "Too large resource version: 999999999"}},
		{name: "get from the future", method: http.MethodGet, path: nodePath, query: q("resourceVersion", maxUint64),
			want: want{504, v1.ReasonTimeout, "Too large resource version"}},
		{name: "update with a bad resourceVersion", method: http.MethodPut, path: keepPath,
			body: podJSON(`"name":"keep","resourceVersion":"abc"`, podSpec("", ""), ""), want: invalid("metadata.resourceVersion"), node: nodeForbidden},
		{name: "node update with a bad resourceVersion", method: http.MethodPut, path: nodePath,
			body: []byte(`{"metadata":{"name":"` + hostileNode + `","resourceVersion":"abc"}}`), want: invalid("metadata.resourceVersion")},
		{name: "node status with a bad resourceVersion", method: http.MethodPut, path: nodePath + "/status",
			body: nodeStatus(`,"resourceVersion":"-3"`, readyStatus("")), want: invalid("metadata.resourceVersion")},
		{name: "stale resourceVersion", method: http.MethodPut, path: keepPath, body: staleKeep,
			want: want{409, v1.ReasonConflict, "modified"}, node: nodeForbidden},
		{name: "stale resourceVersion on a node", method: http.MethodPut, path: nodePath, body: staleNode,
			want: want{409, v1.ReasonConflict, "modified"}},
		{name: "delete with a bad precondition", method: http.MethodDelete, path: keepPath,
			body: []byte(`{"preconditions":{"resourceVersion":"x"}}`), want: bad400("preconditions.resourceVersion")},
		{name: "delete with a stale precondition", method: http.MethodDelete, path: keepPath,
			body: []byte(`{"preconditions":{"resourceVersion":"1"}}`), want: want{409, v1.ReasonConflict, "the ResourceVersion in the precondition (1) does not match"}},
		{name: "delete with a wrong uid precondition", method: http.MethodDelete, path: keepPath,
			body: []byte(`{"preconditions":{"uid":"not-the-uid"}}`), want: want{409, v1.ReasonConflict, "the UID in the precondition (not-the-uid) does not match"}},
		{name: "create carrying a resourceVersion", method: http.MethodPost, path: podsPath,
			body: newPod("rv", `,"resourceVersion":"5"`, ""), want: bad400("resourceVersion should not be set"), node: nodeForbidden},
		{name: "node registration carrying a resourceVersion", method: http.MethodPost, path: nodesPath,
			body: []byte(`{"metadata":{"name":"rv","resourceVersion":"5"}}`), want: bad400("resourceVersion should not be set")},
		{name: "resourceVersionMatch without a resourceVersion", method: http.MethodGet, path: podsPath, query: q("resourceVersionMatch", "Exact"),
			want: bad400("resourceVersionMatch is forbidden")},
		{name: "resourceVersionMatch not supported", method: http.MethodGet, path: podsPath, query: q("resourceVersionMatch", "Newest", "resourceVersion", "1"),
			want: bad400(`resourceVersionMatch: Unsupported value: "Newest"`)},
		{name: "resourceVersionMatch on a get", method: http.MethodGet, path: keepPath, query: q("resourceVersionMatch", "NotOlderThan", "resourceVersion", "1"),
			want: bad400("resourceVersionMatch is forbidden for get")},
		{name: "resourceVersionMatch=Exact at a compacted version", method: http.MethodGet, path: podsPath, query: q("resourceVersionMatch", "Exact", "resourceVersion", "1"),
			want: want{410, v1.ReasonGone, "too old"}},

		// Timeouts and grace periods.
		{name: "watch timeoutSeconds 9223372037", method: http.MethodGet, path: podsPath, query: q("watch", "true", "timeoutSeconds", "9223372037"),
			want: bad400("timeoutSeconds")},
		{name: "negative watch timeoutSeconds", method: http.MethodGet, path: podsPath, query: q("watch", "true", "timeoutSeconds", "-1"),
			want: bad400("timeoutSeconds")},
		{name: "a timeout that is not a duration", method: http.MethodGet, path: podsPath, query: q("timeout", "soon"), want: bad400("invalid timeout")},
		{name: "a negative timeout", method: http.MethodPost, path: podsPath, query: q("timeout", "-1s"), body: newPod("t", "", ""),
			want: bad400("invalid timeout"), node: nodeForbidden},
		{name: "delete body gracePeriodSeconds -5", method: http.MethodDelete, path: keepPath,
			body: []byte(`{"gracePeriodSeconds":-5}`), want: bad400("gracePeriodSeconds -5")},
		{name: "delete query gracePeriodSeconds -5", method: http.MethodDelete, path: keepPath, query: q("gracePeriodSeconds", "-5"),
			want: bad400("gracePeriodSeconds")},
		{name: "delete query gracePeriodSeconds 9223372037", method: http.MethodDelete, path: keepPath, query: q("gracePeriodSeconds", "9223372037"),
			want: bad400("gracePeriodSeconds")},
		{name: "delete body gracePeriodSeconds 9223372037", method: http.MethodDelete, path: keepPath,
			body: []byte(`{"gracePeriodSeconds":9223372037}`), want: bad400("gracePeriodSeconds")},
		{name: "delete body and query disagree", method: http.MethodDelete, path: keepPath, query: q("gracePeriodSeconds", "30"),
			body: []byte(`{"gracePeriodSeconds":-5}`), want: bad400("gracePeriodSeconds")},
		{name: "delete options with an unknown field", method: http.MethodDelete, path: keepPath,
			body: []byte(`{"gracePeriodSecond":0}`), want: bad400(`unknown field "gracePeriodSecond"`)},
		{name: "pod terminationGracePeriodSeconds 9223372037", method: http.MethodPost, path: podsPath,
			body: podJSON(`"name":"grace"`, podSpec("", `,"terminationGracePeriodSeconds":9223372037`), ""),
			want: invalid("terminationGracePeriodSeconds"), node: nodeForbidden},
		{name: "pod activeDeadlineSeconds overflow", method: http.MethodPost, path: podsPath,
			body: podJSON(`"name":"deadline"`, podSpec("", `,"activeDeadlineSeconds":9223372037`), ""),
			want: invalid("activeDeadlineSeconds"), node: nodeForbidden},

		// Query parameters.
		{name: "bad fieldValidation", method: http.MethodPost, path: podsPath, query: q("fieldValidation", "Loose"), body: newPod("fv", "", ""),
			want: bad400("invalid fieldValidation directive"), node: nodeForbidden},
		{name: "a flag that is not a bool", method: http.MethodGet, path: podsPath, query: q("watch", "yes"), want: bad400(`watch "yes"`)},
		{name: "a negative limit", method: http.MethodGet, path: podsPath, query: q("limit", "-1"), want: bad400("limit")},
		{name: "a continue token that does not decode", method: http.MethodGet, path: podsPath, query: q("limit", "1", "continue", "%%%"),
			want: bad400("continue")},
		{name: "a bad label selector", method: http.MethodGet, path: podsPath, query: q("labelSelector", "a in (b"), want: bad400(`invalid label selector "a in (b"`)},
		{name: "a field selector on an unsupported field", method: http.MethodGet, path: podsPath, query: q("fieldSelector", "spec.bogus=x"),
			want: bad400("spec.bogus"), node: nodeForbidden}, // a node lists only with spec.nodeName=<itself>
		{name: "an unknown dryRun value", method: http.MethodPost, path: podsPath, query: q("dryRun", "Yes"), body: newPod("dry", "", ""),
			want: want{422, v1.ReasonInvalid, `dryRun: Unsupported value: ["Yes"]`}, node: nodeForbidden},

		// The older bad-input table (issue 2).
		{name: "upper-case name", method: http.MethodPost, path: podsPath, body: newPod("Web", "", ""), want: invalid("metadata.name"), node: nodeForbidden},
		{name: "slash in name", method: http.MethodPost, path: podsPath, body: newPod("a/b", "", ""), want: invalid("metadata.name"), node: nodeForbidden},
		{name: "dot-dot name", method: http.MethodPost, path: podsPath, body: newPod("../x", "", ""), want: invalid("metadata.name"), node: nodeForbidden},
		{name: "254-char name", method: http.MethodPost, path: podsPath, body: newPod(strings.Repeat("a", 254), "", ""), want: invalid("metadata.name"), node: nodeForbidden},
		{name: "64-char label value", method: http.MethodPost, path: podsPath, body: newPod("l", `,"labels":{"k":"`+strings.Repeat("v", 64)+`"}`, ""),
			want: invalid("metadata.labels"), node: nodeForbidden},
		{name: "upper-case node name", method: http.MethodPost, path: nodesPath, body: []byte(`{"metadata":{"name":"Node1"}}`), want: invalid("metadata.name")},
		{name: "missing namespace", method: http.MethodPost, path: "/api/v1/namespaces/nope/pods", body: newPod("m", "", ""),
			want: want{404, v1.ReasonNotFound, `namespaces "nope" not found`}, node: nodeForbidden},
		{name: "name differs from the path", method: http.MethodPut, path: nodePath + "/status", body: []byte(`{"metadata":{"name":"other"}}`),
			want: bad400("does not match the name on the URL")},
		{name: "an update that names no object", method: http.MethodPut, path: nodePath + "/status", body: []byte(`{"metadata":{}}`),
			want: bad400("the name of the object () does not match the name on the URL")},
		{name: "no token", method: http.MethodPost, path: podsPath, body: newPod("n", "", ""), token: &noToken,
			want: want{401, v1.ReasonUnauthorized, "token"}, node: nodeNotSent},
		{name: "wrong token", method: http.MethodPost, path: podsPath, body: newPod("n", "", ""), token: &wrongToken,
			want: want{401, v1.ReasonUnauthorized, "not valid"}, node: nodeNotSent},

		// Other kinds and subresources.
		{name: "a JSON patch whose test fails", method: http.MethodPatch, path: nodePath, contentType: "application/json-patch+json",
			body: []byte(`[{"op":"replace","path":"/spec/unschedulable","value":true},{"op":"test","path":"/metadata/name","value":"other"}]`),
			want: want{422, v1.ReasonInvalid, "test failed"}},
		{name: "an unknown strategic merge patch directive", method: http.MethodPatch, path: nodePath, contentType: "application/strategic-merge-patch+json",
			body: []byte(`{"spec":{"$patch":"explode"}}`), want: bad400("unknown patch type: explode")},
		{name: "a server-side apply patch without a field manager", method: http.MethodPatch, path: nodePath, contentType: "application/apply-patch+yaml",
			body: []byte(`spec: {unschedulable: true}`), want: want{422, v1.ReasonInvalid, "fieldManager: Required value: is required for apply patch"}},
		{name: "binding to a node that does not exist", method: http.MethodPost, path: "/api/v1/namespaces/default/pods/loose/binding",
			body: []byte(`{"metadata":{"name":"loose"},"target":{"kind":"Node","name":"no-such-node"}}`), want: want{404, v1.ReasonNotFound, "no-such-node"}, node: nodeForbidden},
		{name: "namespace status time past 9999", method: http.MethodPut, path: "/api/v1/namespaces/default/status",
			body: []byte(`{"metadata":{"name":"default","deletionTimestamp":"` + farFuture + `"}}`), want: bad400("outside the years 0001-9999"), node: nodeForbidden},
		{name: "a service port of 70000", method: http.MethodPost, path: "/api/v1/namespaces/default/services",
			body: []byte(`{"metadata":{"name":"s"},"spec":{"selector":{"app":"x"},"ports":[{"port":70000}]}}`), want: invalid("spec.ports[0].port"), node: nodeForbidden},
		{name: "a nodePort out of range", method: http.MethodPost, path: "/api/v1/namespaces/default/services",
			body: []byte(`{"metadata":{"name":"s"},"spec":{"type":"NodePort","selector":{"app":"x"},"ports":[{"port":80,"nodePort":99999}]}}`), want: invalid("nodePort"), node: nodeForbidden},
		{name: "a clusterIP outside the service range", method: http.MethodPost, path: "/api/v1/namespaces/default/services",
			body: []byte(`{"metadata":{"name":"s"},"spec":{"clusterIP":"8.8.8.8","selector":{"app":"x"},"ports":[{"port":80}]}}`), want: invalid("clusterIP"), node: nodeForbidden},
		{name: "endpoints with an address that is not an IP", method: http.MethodPost, path: "/api/v1/namespaces/default/endpoints",
			body: []byte(`{"metadata":{"name":"s"},"subsets":[{"addresses":[{"ip":"not-an-ip"}],"ports":[{"port":80}]}]}`), want: invalid("ip"), node: nodeForbidden},
		{name: "a limit range max cpu overflow", method: http.MethodPost, path: "/api/v1/namespaces/default/limitranges",
			body: []byte(`{"metadata":{"name":"l"},"spec":{"limits":[{"type":"Container","max":{"cpu":"9223372036854776"}}]}}`), want: invalid("spec.limits[0].max[cpu]"), node: nodeForbidden},
		{name: "an rc selector that does not match its template", method: http.MethodPost, path: rcsPath,
			body: bytes.Replace(rcJSON("mismatch", "", ""), []byte(`"selector":{"app":"x"}`), []byte(`"selector":{"app":"y"}`), 1),
			want: invalid("selector"), node: nodeForbidden},
		{name: "scale past int32", method: http.MethodPut, path: rcPath + "/scale",
			body: []byte(`{"metadata":{"name":"rc","namespace":"default"},"spec":{"replicas":4294967296}}`), want: bad400("replicas"), node: nodeForbidden},
		{name: "a container port of 0", method: http.MethodPost, path: podsPath,
			body: newPod("port", "", `,"ports":[{"containerPort":0}]`), want: invalid("containerPort"), node: nodeForbidden},
		{name: "a label key with a space", method: http.MethodPost, path: podsPath,
			body: newPod("lk", `,"labels":{"a b":"c"}`, ""), want: invalid("metadata.labels"), node: nodeForbidden},
		{name: "a NUL in a name", method: http.MethodPost, path: podsPath,
			body: newPod(`a\u0000b`, "", ""), want: invalid("metadata.name"), node: nodeForbidden},
		{name: "a node changing its podCIDR", method: http.MethodPatch, path: nodePath, contentType: "application/merge-patch+json",
			body: []byte(`{"spec":{"podCIDR":"10.99.0.0/24"}}`), want: invalid(`spec.podCIDRs: Forbidden: node updates may not change podCIDR`), node: nodeForbidden},
		{name: "delete with an unsupported propagationPolicy", method: http.MethodDelete, path: rcPath,
			body: []byte(`{"propagationPolicy":"Sideways"}`), want: bad400("propagationPolicy"), node: nodeForbidden},
		{name: "a limit that is not a number", method: http.MethodGet, path: podsPath, query: q("limit", "ten"), want: bad400("limit")},
		{name: "a watch with an unsupported field selector", method: http.MethodGet, path: podsPath, query: q("watch", "true", "fieldSelector", "status.bogus=x"),
			want: bad400("status.bogus"), node: nodeForbidden},

		// Bodies of the wrong shape.
		{name: "a merge patch that is null", method: http.MethodPatch, path: nodePath, contentType: "application/merge-patch+json",
			body: []byte(`null`), want: bad400("the patch must be a JSON object, not null")},
		{name: "a node status that is null", method: http.MethodPut, path: nodePath + "/status", body: []byte(`null`),
			want: bad400("the request body must be a Node object, not null")},
		{name: "a pod status that is null", method: http.MethodPut, path: keepPath + "/status", body: []byte(` null `),
			want: bad400("the request body must be a Pod object, not null")},
		{name: "a merge patch that is an array", method: http.MethodPatch, path: nodePath, contentType: "application/merge-patch+json",
			body: []byte(`[]`), want: bad400("the patch must be a JSON object")},
		{name: "a status patch renaming the pod", method: http.MethodPatch, path: keepPath + "/status", contentType: "application/merge-patch+json",
			body: []byte(`{"metadata":{"name":"other"}}`), want: bad400("does not match the name on the URL")},
		{name: "a kind that does not match the path", method: http.MethodPost, path: podsPath,
			body: []byte(`{"kind":"Node","apiVersion":"v1","metadata":{"name":"k"},"spec":{"containers":[{"name":"c","image":"b"}]}}`), want: bad400(`kind "Node"`), node: nodeForbidden},
		{name: "an apiVersion orch does not serve", method: http.MethodPost, path: podsPath,
			body: []byte(`{"kind":"Pod","apiVersion":"v2","metadata":{"name":"k"},"spec":{"containers":[{"name":"c","image":"b"}]}}`), want: bad400(`apiVersion "v2"`), node: nodeForbidden},
		{name: "a namespace that does not match the path", method: http.MethodPost, path: podsPath,
			body: newPod("k", `,"namespace":"kube-system"`, ""), want: bad400("does not match the namespace of the path"), node: nodeForbidden},
		{name: "a text/plain body", method: http.MethodPut, path: nodePath + "/status", contentType: "text/plain",
			body: nodeStatus("", readyStatus("")), want: want{415, v1.ReasonUnsupportedMedia, "text/plain"}},
		{name: "a port past int32", method: http.MethodPost, path: podsPath,
			body: newPod("p32", "", `,"ports":[{"containerPort":4294967296}]`), want: bad400("containerPort"), node: nodeForbidden},
		{name: "replicas as a fraction", method: http.MethodPost, path: rcsPath,
			body: bytes.Replace(rcJSON("frac", "", ""), []byte(`"replicas":1`), []byte(`"replicas":1.5`), 1), want: bad400("replicas"), node: nodeForbidden},
		{name: "replicas as a string", method: http.MethodPost, path: rcsPath,
			body: bytes.Replace(rcJSON("str", "", ""), []byte(`"replicas":1`), []byte(`"replicas":"1"`), 1), want: bad400("replicas"), node: nodeForbidden},
		{name: "a lone surrogate in a name", method: http.MethodPost, path: podsPath,
			body: newPod(`a\ud800b`, "", ""), want: invalid("metadata.name"), node: nodeForbidden},
		{name: "invalid UTF-8 in a label", method: http.MethodPost, path: podsPath,
			body: newPod("utf", `,"labels":{"k":"a`+"\xff"+`b"}`, ""), want: invalid("metadata.labels"), node: nodeForbidden},
		{name: "a bad bookmarks flag", method: http.MethodGet, path: podsPath, query: q("watch", "true", "allowWatchBookmarks", "sometimes"),
			want: bad400("allowWatchBookmarks")},
		{name: "a bad pretty flag", method: http.MethodGet, path: keepPath, query: q("pretty", "maybe"), want: bad400("pretty")},
		{name: "a PUT to a collection", method: http.MethodPut, path: podsPath, body: newPod("x", "", ""),
			want: want{405, v1.ReasonMethodNotAllowed, "PUT"}},
		{name: "a resource that does not exist", method: http.MethodGet, path: "/api/v1/namespaces/default/widgets",
			want: want{404, v1.ReasonNotFound, "widgets"}},
		{name: "a path with an empty segment", method: http.MethodDelete, path: "/api/v1/namespaces//pods",
			want: want{404, v1.ReasonNotFound, `path "/api/v1/namespaces//pods" not found`}},
		{name: "a path with dot-dot", method: http.MethodDelete, path: "/api/v1/namespaces/default/pods/../../default",
			want: want{404, v1.ReasonNotFound, `path "/api/v1/namespaces/default/pods/../../default" not found`}},

		// What a compromised node might send about itself.
		{name: "registering a node that exists", method: http.MethodPost, path: nodesPath,
			body: []byte(`{"metadata":{"name":"` + hostileNode + `"}}`), want: want{409, v1.ReasonAlreadyExists, hostileNode}},
		{name: "a taint with an unknown effect", method: http.MethodPatch, path: nodePath, contentType: "application/merge-patch+json",
			body: []byte(`{"spec":{"taints":[{"key":"k","effect":"Evict"}]}}`), want: invalid("effect"), node: nodeForbidden},
		{name: "a pod IP that is not an IP", method: http.MethodPut, path: keepPath + "/status",
			body: keepStatus("", `{"phase":"Running","podIP":"999.1.1.1"}`), want: invalid(`status.podIP: Invalid value: "999.1.1.1": must be a valid IP address`), node: nodeForbidden},
		{name: "a host IP that is a name", method: http.MethodPut, path: keepPath + "/status",
			body: keepStatus("", `{"phase":"Running","hostIP":"evil.example.com"}`), want: invalid("status.hostIP"), node: nodeForbidden},

		// What only the admin may do.
		{name: "delete of a node", method: http.MethodDelete, path: "/api/v1/nodes/no-such-node",
			want: want{404, v1.ReasonNotFound, "no-such-node"}, node: nodeForbidden},
		{name: "scale to -1", method: http.MethodPut, path: rcPath + "/scale",
			body: []byte(`{"metadata":{"name":"rc","namespace":"default"},"spec":{"replicas":-1}}`), want: invalid("spec.replicas"), node: nodeForbidden},
	}
}
