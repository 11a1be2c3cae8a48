package apiserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/apiserver/tables"
	"orch.io/orch/fsm"
)

// The Table renderings a get, list or watch may ask for (kubectl get asks
// for meta.k8s.io/v1 first, then v1beta1, then the plain object).
var (
	tableV1      = mediaRequest{As: "Table", Group: metav1.GroupName, Version: "v1"}
	tableV1beta1 = mediaRequest{As: "Table", Group: metav1.GroupName, Version: "v1beta1"}
)

// includeObject values of TableOptions.
const (
	includeNone     = "None"
	includeMetadata = "Metadata"
	includeObject   = "Object"
)

// tabler renders records of one resource as server-side Table rows: the
// columns of apiserver/tables, and each row's object as the request's
// includeObject asks (Metadata by default, as in Kubernetes).
type tabler struct {
	srv        *Server     // opens Secrets' values for the rows' objects
	apiVersion string      // meta.k8s.io/v1 or meta.k8s.io/v1beta1
	res        v1.Resource // the listed resource, which shows each row's object
	include    string
	printer    tables.Printer
	now        time.Time
}

// tableFor returns the tabler a request asks for with its Accept header,
// nil when it asks for the objects themselves, or a 400 for an
// includeObject Kubernetes does not know.
func (s *Server) tableFor(r *http.Request, req *request) (*tabler, error) {
	m := negotiate(r.Header.Get("Accept"), tableV1, tableV1beta1)
	if m.As == "" {
		return nil, nil
	}
	t := &tabler{srv: s, apiVersion: m.Group + "/" + m.Version, res: req.resource, include: r.URL.Query().Get("includeObject"),
		printer: tables.For(req.resource.Name), now: time.Now()}
	switch t.include {
	case "", includeNone, includeMetadata, includeObject:
	default:
		return nil, v1.NewBadRequest(fmt.Sprintf(`Unable to convert to Table as requested: includeObject: Unsupported value: %q: supported values: "Metadata", "None", "Object"`, t.include))
	}
	return t, nil
}

// table renders recs as a Table; headers says whether it carries the
// column definitions (a watch sends them with its first event only).
func (t *tabler) table(recs []*fsm.Record, meta metav1.ListMeta, headers bool) ([]byte, error) {
	tab := metav1.Table{TypeMeta: metav1.TypeMeta{Kind: "Table", APIVersion: t.apiVersion}, ListMeta: meta,
		Rows: make([]metav1.TableRow, 0, len(recs))}
	if headers {
		tab.ColumnDefinitions = t.printer.Columns
	}
	for _, rec := range recs {
		row, err := t.row(rec)
		if err != nil {
			return nil, err
		}
		tab.Rows = append(tab.Rows, row)
	}
	b, err := json.Marshal(tab)
	if err != nil {
		return nil, fmt.Errorf("encode table: %w", err)
	}
	return b, nil
}

// row is one record's row.
func (t *tabler) row(rec *fsm.Record) (metav1.TableRow, error) {
	cells, conds := t.printer.Row(rec.Object(), t.now)
	row := metav1.TableRow{Cells: cells, Conditions: conds}
	switch t.include {
	case includeObject:
		b, err := t.srv.recordJSON(t.res, rec)
		if err != nil {
			return row, err
		}
		row.Object = runtime.RawExtension{Raw: b}
	case includeMetadata, "":
		b, err := json.Marshal(struct {
			Kind       string         `json:"kind"`
			APIVersion string         `json:"apiVersion"`
			Metadata   *v1.ObjectMeta `json:"metadata"`
		}{"PartialObjectMetadata", t.apiVersion, rec.Meta()})
		if err != nil {
			return row, fmt.Errorf("encode metadata: %w", err)
		}
		row.Object = runtime.RawExtension{Raw: b}
	}
	return row, nil
}
