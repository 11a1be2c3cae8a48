package fsm

import (
	"fmt"
	"strconv"

	memdb "github.com/hashicorp/go-memdb"

	v1 "orch.io/orch/api/v1"
)

// Index names.
const (
	indexID = "id" // namespace/name, unique (uids: see uidIndex)
	// pods: spec.nodeName, bound pods only. An unbound pod is left out
	// (each create of one inserted into a second tree, and each binding
	// deleted from it): podsOnNode finds them by key instead.
	indexNode = "node"
	// services: spec.clusterIP (none for headless or unset) and each
	// port's nodePort, so allocation looks up instead of scanning.
	indexClusterIP = "clusterIP"
	indexNodePort  = "nodePort"
)

// tableMasters holds the masters' addresses.
const tableMasters = "masters"

// keyIndexer indexes a Record by a string taken from it. Keys end in a NUL
// byte so that an exact lookup never matches a longer key with the same prefix.
type keyIndexer struct {
	key func(*Record) (string, bool)
	// withID makes room after the key for the primary key that go-memdb
	// appends to the keys of an index that is not unique, so that append
	// does not copy the key into a second allocation.
	withID bool
}

func (k keyIndexer) FromObject(raw any) (bool, []byte, error) {
	r, ok := raw.(*Record)
	if !ok {
		return false, nil, fmt.Errorf("index: %T is not a *Record", raw)
	}
	s, ok := k.key(r)
	if !ok {
		return false, nil, nil
	}
	if k.withID {
		id := r.Key()
		b := make([]byte, len(s)+1, len(s)+1+len(id)+1)
		copy(b, s)
		return true, b, nil
	}
	return true, nulTerminated(s), nil
}

func (k keyIndexer) FromArgs(args ...any) ([]byte, error) {
	s, err := argString(args)
	if err != nil {
		return nil, err
	}
	return nulTerminated(s), nil
}

func (k keyIndexer) PrefixFromArgs(args ...any) ([]byte, error) {
	s, err := argString(args)
	if err != nil {
		return nil, err
	}
	return []byte(s), nil
}

// keysIndexer indexes a Record by several strings taken from it (none:
// not indexed), each NUL-terminated as keyIndexer's.
type keysIndexer struct {
	keyIndexer
	keys func(*Record) []string
}

func (k keysIndexer) FromObject(raw any) (bool, [][]byte, error) {
	r, ok := raw.(*Record)
	if !ok {
		return false, nil, fmt.Errorf("index: %T is not a *Record", raw)
	}
	keys := k.keys(r)
	if len(keys) == 0 {
		return false, nil, nil
	}
	out := make([][]byte, len(keys))
	for i, s := range keys {
		out[i] = nulTerminated(s)
	}
	return true, out, nil
}

// nulTerminated returns s and a NUL byte, in one allocation (s + "\x00"
// converted to bytes takes two once s is longer than the compiler's
// 32-byte buffer, as a uid is).
func nulTerminated(s string) []byte {
	b := make([]byte, len(s)+1)
	copy(b, s)
	return b
}

func argString(args []any) (string, error) {
	if len(args) != 1 {
		return "", fmt.Errorf("index: want 1 argument, got %d", len(args))
	}
	s, ok := args[0].(string)
	if !ok {
		return "", fmt.Errorf("index: argument is %T, not a string", args[0])
	}
	return s, nil
}

func schema() *memdb.DBSchema {
	s := &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{}}
	for _, r := range v1.Resources() {
		t := &memdb.TableSchema{
			Name: r.Name,
			Indexes: map[string]*memdb.IndexSchema{
				indexID: {Name: indexID, Unique: true, Indexer: keyIndexer{key: func(r *Record) (string, bool) {
					return r.Key(), true
				}}},
			},
		}
		if r.Name == "pods" {
			t.Indexes[indexNode] = &memdb.IndexSchema{Name: indexNode, AllowMissing: true, Indexer: keyIndexer{withID: true, key: func(r *Record) (string, bool) {
				n := r.NodeName()
				return n, n != ""
			}}}
		}
		if r.Name == "nodes" {
			for name, idx := range podCIDRIndexes() {
				t.Indexes[name] = idx
			}
		}
		if r.Name == "services" {
			t.Indexes[indexClusterIP] = &memdb.IndexSchema{Name: indexClusterIP, AllowMissing: true, Indexer: keyIndexer{key: func(r *Record) (string, bool) {
				svc, ok := r.Object().(*v1.Service)
				if !ok || svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == v1.ClusterIPNone {
					return "", false
				}
				return svc.Spec.ClusterIP, true
			}}}
			t.Indexes[indexNodePort] = &memdb.IndexSchema{Name: indexNodePort, AllowMissing: true, Indexer: keysIndexer{keys: func(r *Record) []string {
				svc, ok := r.Object().(*v1.Service)
				if !ok {
					return nil
				}
				var out []string
				for _, p := range svc.Spec.Ports {
					if p.NodePort != 0 {
						out = append(out, strconv.Itoa(int(p.NodePort)))
					}
				}
				return out
			}}}
		}
		s.Tables[r.Name] = t
	}
	s.Tables[tablePodCIDRHints] = podCIDRHintsTable()
	s.Tables[tableMasters] = &memdb.TableSchema{
		Name: tableMasters,
		Indexes: map[string]*memdb.IndexSchema{
			indexID: {Name: indexID, Unique: true, Indexer: &memdb.StringFieldIndex{Field: "ID"}},
		},
	}
	return s
}
