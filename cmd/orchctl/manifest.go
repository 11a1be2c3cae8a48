package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	v1 "orch.io/orch/api/v1"
)

// manifest is one object read from a file.
type manifest struct {
	// source says where it came from: "web.yaml", "web.yaml (document 2)",
	// "list.json (item 3)".
	source string
	res    v1.Resource
	obj    v1.Object
	// raw is the object exactly as written (numbers kept exact), the base of
	// the configuration apply records.
	raw map[string]any
}

// ref is TYPE/NAME of the manifest, as apply and create print it.
func (m *manifest) ref() string { return m.res.Singular + "/" + m.obj.GetObjectMeta().Name }

// readManifests reads the objects of every -f argument: a file, a directory
// (its .yaml, .yml and .json files in name order, and subdirectories with
// recursive), or "-" for stdin. Everything is decoded before anything is
// sent, so a typo in the last file stops the whole command.
func readManifests(paths []string, stdin io.Reader, recursive bool) ([]*manifest, error) {
	if len(paths) == 0 {
		return nil, errors.New("no manifest given: pass -f FILE, -f DIR or -f -")
	}
	var out []*manifest
	for _, p := range paths {
		if p == "-" {
			data, err := io.ReadAll(stdin)
			if err != nil {
				return nil, fmt.Errorf("read stdin: %w", err)
			}
			ms, err := decodeManifests("stdin", data)
			if err != nil {
				return nil, err
			}
			out = append(out, ms...)
			continue
		}
		files, err := manifestFiles(p, recursive)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("read manifest: %w", err)
			}
			ms, err := decodeManifests(f, data)
			if err != nil {
				return nil, err
			}
			out = append(out, ms...)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no objects found in %s", strings.Join(paths, ", "))
	}
	return out, nil
}

// manifestFiles expands a -f path into files.
func manifestFiles(path string, recursive bool) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	var files []string
	err = filepath.WalkDir(path, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != path && !recursive {
				return filepath.SkipDir
			}
			return nil
		}
		switch strings.ToLower(filepath.Ext(p)) {
		case ".yaml", ".yml", ".json":
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read manifest directory: %w", err)
	}
	sort.Strings(files)
	return files, nil
}

// decodeManifests decodes the objects of one file: JSON (one or more
// objects), or YAML with documents separated by "---"; a List (kind List or
// <Kind>List) contributes its items.
func decodeManifests(source string, data []byte) ([]*manifest, error) {
	trimmed := bytes.TrimSpace(data)
	var docs [][]byte
	var names []string
	if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') {
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		for i := 1; ; i++ {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err == io.EOF {
				break
			} else if err != nil {
				return nil, fmt.Errorf("%s: invalid JSON: %w", source, err)
			}
			docs = append(docs, raw)
			names = append(names, docName(source, "object", i))
		}
		if len(docs) == 1 {
			names[0] = source
		}
	} else {
		parts := splitYAMLDocuments(data)
		for i, part := range parts {
			name := source
			if len(parts) > 1 {
				name = fmt.Sprintf("%s (document %d at line %d)", source, i+1, part.line)
			}
			js, err := yaml.YAMLToJSONStrict(part.data)
			if err != nil {
				return nil, fmt.Errorf("%s: invalid YAML: %w", name, err)
			}
			if t := bytes.TrimSpace(js); len(t) == 0 || string(t) == "null" {
				continue // empty document or comments only
			}
			docs = append(docs, js)
			names = append(names, name)
		}
	}
	var out []*manifest
	for i, doc := range docs {
		ms, err := decodeDocument(names[i], doc)
		if err != nil {
			return nil, err
		}
		out = append(out, ms...)
	}
	return out, nil
}

func docName(source, what string, n int) string { return fmt.Sprintf("%s (%s %d)", source, what, n) }

// yamlDoc is one document of a YAML stream and the line it starts on.
type yamlDoc struct {
	data []byte
	line int
}

// splitYAMLDocuments splits a YAML stream at lines that are "---" (possibly
// followed by spaces or a comment). "..." (document end) lines are dropped,
// and so are documents with nothing but comments and blank lines.
func splitYAMLDocuments(data []byte) []yamlDoc {
	var docs []yamlDoc
	var cur bytes.Buffer
	start, n, content := 1, 0, false
	flush := func(next int) {
		if content {
			docs = append(docs, yamlDoc{data: bytes.Clone(cur.Bytes()), line: start})
		}
		cur.Reset()
		start, content = next, false
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), len(data)+1)
	for sc.Scan() {
		n++
		line := sc.Text()
		trimmed := strings.TrimRight(line, " \t\r")
		if trimmed == "---" || strings.HasPrefix(trimmed, "--- ") || trimmed == "..." {
			flush(n + 1)
			continue
		}
		if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") {
			if !content {
				start = n
			}
			content = true
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	flush(0)
	return docs
}

// supportedKinds lists the kinds a manifest may have.
func supportedKinds() string {
	var kinds []string
	for _, r := range v1.Resources() {
		kinds = append(kinds, r.Kind)
	}
	return strings.Join(kinds, ", ")
}

// decodeDocument decodes one JSON document into objects, strictly: an
// unknown or duplicate field is an error naming its path.
func decodeDocument(source string, js []byte) ([]*manifest, error) {
	var head struct {
		Kind       string            `json:"kind"`
		APIVersion string            `json:"apiVersion"`
		Items      []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(js, &head); err != nil {
		var arr []json.RawMessage
		if json.Unmarshal(js, &arr) == nil {
			return decodeItems(source, arr)
		}
		return nil, fmt.Errorf("%s: not an object: %w", source, err)
	}
	if head.Kind == "" {
		return nil, fmt.Errorf("%s: kind is missing", source)
	}
	want := v1.APIVersion
	if r, ok := v1.ResourceByKind(head.Kind); ok {
		want = r.GroupVersion()
	}
	if head.APIVersion != want {
		if head.APIVersion == "" {
			return nil, fmt.Errorf("%s: apiVersion is missing (want %q)", source, want)
		}
		return nil, fmt.Errorf("%s: apiVersion %q is not supported (want %q)", source, head.APIVersion, want)
	}
	if isListKind(head.Kind) {
		var list struct {
			v1.TypeMeta `json:",inline"`
			Metadata    v1.ListMeta       `json:"metadata"`
			Items       []json.RawMessage `json:"items"`
		}
		if err := strictDecode(source, js, &list); err != nil {
			return nil, err
		}
		return decodeItems(source, head.Items)
	}
	r, ok := v1.ResourceByKind(head.Kind)
	if !ok {
		return nil, fmt.Errorf("%s: kind %q is not supported (supported: %s)", source, head.Kind, supportedKinds())
	}
	obj := r.New()
	if err := strictDecode(source, js, obj); err != nil {
		return nil, err
	}
	raw, err := decodeRaw(js)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	if obj.GetObjectMeta().Name == "" && obj.GetObjectMeta().GenerateName == "" {
		return nil, fmt.Errorf("%s: %s has no metadata.name", source, r.Kind)
	}
	return []*manifest{{source: source, res: r, obj: obj, raw: raw}}, nil
}

func decodeItems(source string, items []json.RawMessage) ([]*manifest, error) {
	var out []*manifest
	for i, item := range items {
		ms, err := decodeDocument(docName(source, "item", i+1), item)
		if err != nil {
			return nil, err
		}
		out = append(out, ms...)
	}
	return out, nil
}

// isListKind reports whether kind is List or the list kind of a resource.
func isListKind(kind string) bool {
	if kind == "List" {
		return true
	}
	base, ok := strings.CutSuffix(kind, "List")
	if !ok {
		return false
	}
	_, known := v1.ResourceByKind(base)
	return known
}

// strictDecode decodes js into v, failing on unknown or duplicate fields and
// on fields whose case differs from the schema.
func strictDecode(source string, js []byte, v any) error {
	strictErrs, err := sigsjson.UnmarshalStrict(js, v)
	if err != nil {
		return fmt.Errorf("%s: %w", source, err)
	}
	if len(strictErrs) > 0 {
		msgs := make([]string, len(strictErrs))
		for i, e := range strictErrs {
			msgs[i] = e.Error()
		}
		return fmt.Errorf("%s: %s", source, strings.Join(msgs, ", "))
	}
	return nil
}

// decodeRaw decodes a JSON object into a map, keeping numbers exact.
func decodeRaw(js []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("decode object: %w", err)
	}
	return m, nil
}

// setNamespace puts the manifest in ns when it has none (namespaced kinds
// only), and refuses a manifest whose namespace differs from an explicit -n.
func (m *manifest) setNamespace(ns string, explicit bool) error {
	if !m.res.Namespaced {
		return nil
	}
	meta := m.obj.GetObjectMeta()
	switch {
	case meta.Namespace == "":
		meta.Namespace = ns
		md, _ := m.raw["metadata"].(map[string]any)
		if md == nil {
			md = map[string]any{}
			m.raw["metadata"] = md
		}
		md["namespace"] = ns
	case explicit && meta.Namespace != ns:
		return fmt.Errorf("%s: the object's namespace %q does not match --namespace %q", m.source, meta.Namespace, ns)
	}
	return nil
}
