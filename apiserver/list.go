package apiserver

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// continueToken is the opaque list continuation: the key to continue after.
// Pages after the first reflect the state when they are read (orch keeps no
// old versions to list from); their resourceVersion says which.
type continueToken struct {
	Key string `json:"k"`
	RV  uint64 `json:"rv"`
}

func encodeContinue(key string, rv uint64) string {
	b, _ := json.Marshal(continueToken{Key: key, RV: rv})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeContinue(s string) (continueToken, error) {
	var t continueToken
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &t)
	}
	if err != nil || t.Key == "" {
		return t, v1.NewBadRequest("the continue token is not valid")
	}
	return t, nil
}

// listOptions parses the selectors, limit and continue of a list or watch.
func listOptions(req *request, q url.Values) (fsm.ListOptions, error) {
	opts := fsm.ListOptions{Namespace: req.namespace}
	if s := q.Get("labelSelector"); s != "" {
		sel, err := v1.ParseLabelSelector(s)
		if err != nil {
			return opts, v1.NewBadRequest(err.Error())
		}
		opts.Labels = sel
	}
	if s := q.Get("fieldSelector"); s != "" {
		fs, err := v1.ParseFieldSelector(req.resource.Kind, s)
		if err != nil {
			return opts, v1.NewBadRequest(err.Error())
		}
		opts.Fields = fs
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return opts, v1.NewBadRequest(fmt.Sprintf("limit %q must be a whole number >= 0", s))
		}
		opts.Limit = n
	}
	if s := q.Get("continue"); s != "" {
		t, err := decodeContinue(s)
		if err != nil {
			return opts, err
		}
		opts.After = t.Key
	}
	return opts, nil
}

func (s *Server) serveList(w http.ResponseWriter, r *http.Request, req *request) {
	opts, err := listOptions(req, r.URL.Query())
	if err != nil {
		writeError(w, err)
		return
	}
	if err := checkListSendInitialEvents(r.URL.Query()); err != nil {
		writeError(w, err)
		return
	}
	tab, err := s.tableFor(r, req)
	if err != nil {
		writeError(w, err)
		return
	}
	store, err := s.read(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := exactMatch(r.URL.Query(), store); err != nil {
		writeError(w, err)
		return
	}
	res, err := store.List(req.resource.Name, opts)
	if err != nil {
		writeError(w, err)
		return
	}
	if tab != nil {
		meta := metav1.ListMeta{ResourceVersion: strconv.FormatUint(res.Index, 10)}
		if res.Next != "" {
			meta.Continue = encodeContinue(res.Next, res.Index)
		}
		b, err := tab.table(res.Items, meta, true)
		if err != nil {
			writeError(w, err)
			return
		}
		writeRaw(w, http.StatusOK, b)
		return
	}
	cont := ""
	if res.Next != "" {
		cont = encodeContinue(res.Next, res.Index)
	}
	b, err := s.listJSON(req.resource, res.Index, cont, res.Items)
	if err != nil {
		writeError(w, err)
		return
	}
	writeRaw(w, http.StatusOK, b)
}

// listJSON encodes records as resource r's list at index, with a continue
// token when cont is not empty; each item is its stored bytes (or its
// view's encoding), never decoded and encoded again.
func (s *Server) listJSON(r v1.Resource, index uint64, cont string, items []*fsm.Record) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(256 + 1024*len(items))
	fmt.Fprintf(&buf, `{"kind":%q,"apiVersion":%q,"metadata":{"resourceVersion":"%d"`, r.Kind+"List", r.GroupVersion(), index)
	if cont != "" {
		fmt.Fprintf(&buf, `,"continue":%q`, cont)
	}
	buf.WriteString(`},"items":[`)
	for i, rec := range items {
		b, err := s.recordJSON(r, rec)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(b)
	}
	buf.WriteString("]}")
	return buf.Bytes(), nil
}

// exactMatch checks a list's resourceVersionMatch. orch keeps no old
// versions, so an Exact list is served only at the current resourceVersion;
// an older one is 410 Gone, as Kubernetes answers one compacted away.
func exactMatch(q url.Values, store *fsm.Store) error {
	m, rv := q.Get("resourceVersionMatch"), q.Get("resourceVersion")
	switch {
	case m == "":
		return nil
	case rv == "":
		return v1.NewBadRequest("resourceVersionMatch is forbidden unless resourceVersion is provided")
	case m == "Exact" && rv == "0":
		return v1.NewBadRequest(`resourceVersionMatch "Exact" is forbidden for resourceVersion "0"`)
	case m == "Exact" && rv != strconv.FormatUint(store.Index(), 10):
		return v1.NewGone("The resourceVersion for the provided list is too old.")
	}
	return nil
}

func sortedStrings(s []string) []string {
	sort.Strings(s)
	return s
}
