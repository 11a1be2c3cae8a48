package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/test/harness"
)

// encryptedSecret is one Secret the test writes and the clear values it
// must read back.
type encryptedSecret struct {
	name   string
	typ    v1.SecretType
	values map[string]string
	// stringData writes the values as stringData; kubectl applies the
	// Secret with kubectl (its last-applied annotation holds them too).
	stringData, kubectl bool
}

// uniqueValue is a value found nowhere but where the test put it.
func uniqueValue(t *testing.T, what string) string {
	t.Helper()
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "orch-e2e-" + what + "-" + hex.EncodeToString(b)
}

// needles are the forms of a value a scan looks for: the bytes themselves
// and their standard base64 at the three alignments (the characters that
// depend on the value alone, wherever it starts in a larger encoding).
func needles(v string) [][]byte {
	out := [][]byte{[]byte(v)}
	for k := 0; k < 3; k++ {
		enc := base64.StdEncoding.EncodeToString(append(bytes.Repeat([]byte{0}, k), v...))
		start, end := (k+2)/3*4, (k+len(v))/3*4
		out = append(out, []byte(enc[start:end]))
	}
	return out
}

// scanFiles returns, for each file holding any form of any value, the
// value it holds.
func scanFiles(t *testing.T, files []string, values []string) []string {
	t.Helper()
	var found []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("scan %s: %v", f, err)
		}
		for _, v := range values {
			for _, n := range needles(v) {
				if bytes.Contains(b, n) {
					found = append(found, fmt.Sprintf("%s holds %q (as %q)", f, v, n))
					break
				}
			}
		}
	}
	return found
}

// masterFiles lists master i's raft log (raft.db, or raft-wal/'s segments
// and meta database; not its reserve, which is zeros) and every file of
// its snapshots.
func masterFiles(t *testing.T, c *harness.Cluster, i int) []string {
	t.Helper()
	var files []string
	if _, err := os.Stat(filepath.Join(c.Masters[i].DataDir, "raft.db")); err == nil {
		files = append(files, filepath.Join(c.Masters[i].DataDir, "raft.db"))
	}
	for _, dir := range []string{"raft-wal", "snapshots"} {
		err := filepath.WalkDir(filepath.Join(c.Masters[i].DataDir, dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && d.Name() != "reserve" {
				files = append(files, p)
			}
			return nil
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("master %d %s: %v", i, dir, err)
		}
	}
	return files
}

// inRaftLog reports whether file is part of a master's raft log.
func inRaftLog(m *harness.Master, file string) bool {
	return file == filepath.Join(m.DataDir, "raft.db") || strings.HasPrefix(file, filepath.Join(m.DataDir, "raft-wal")+string(filepath.Separator))
}

// newestSnapshotIndex is the index of master i's newest snapshot (0: none).
func newestSnapshotIndex(c *harness.Cluster, i int) uint64 {
	metas, _ := filepath.Glob(filepath.Join(c.Masters[i].DataDir, "snapshots", "*", "meta.json"))
	var best uint64
	for _, m := range metas {
		b, err := os.ReadFile(m)
		if err != nil {
			continue
		}
		var meta struct{ Index uint64 }
		if json.Unmarshal(b, &meta) == nil && meta.Index > best {
			best = meta.Index
		}
	}
	return best
}

// primaryKeyOn reports whether master i encrypts with key and has
// reloaded its configuration at least reloads times.
func primaryKeyOn(t *testing.T, c *harness.Cluster, i int, key string, reloads int) (bool, string) {
	var raw []byte
	if err := c.Client(i).Do(ctxT(t, 5*time.Second), "GET", "/metrics", nil, nil, &raw); err != nil {
		return false, err.Error()
	}
	want := []string{`orch_secrets_encryption_primary_key_info{key="` + key + `",provider="aesgcm"} 1`,
		`orch_secrets_encryption_config_reloads_total{status="success"} ` + strconv.Itoa(reloads)}
	for _, w := range want {
		if !strings.Contains(string(raw), w) {
			return false, fmt.Sprintf("master %d lacks %s", i, w)
		}
	}
	return true, ""
}

func orchd(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(bins.Orchd, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("orchd %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// readSecrets checks that every Secret reads back with its clear values
// through master i.
func readSecrets(t *testing.T, c *harness.Cluster, i int, secrets []encryptedSecret) {
	t.Helper()
	cl := c.Client(i)
	for _, s := range secrets {
		var got v1.Secret
		if err := cl.Get(ctxT(t, 10*time.Second), "secrets", "default", s.name, &got); err != nil {
			t.Fatalf("master %d: get secret %s: %v", i, s.name, err)
		}
		for k, v := range s.values {
			if string(got.Data[k]) != v {
				t.Errorf("master %d: secret %s data[%s] = %q, want %q", i, s.name, k, got.Data[k], v)
			}
		}
		if got.Type != s.typ {
			t.Errorf("master %d: secret %s type %q, want %q", i, s.name, got.Type, s.typ)
		}
	}
}

// Issue 16's third test: Secrets never reach a master's disk or a backup
// in clear; a key rotation (add, use, rewrite, remove) leaves every Secret
// readable on every master, a restarted one included; a backup restores
// with its key, and without it answers a 500 naming the key.
func TestSecretsEncryptedAtRest(t *testing.T) {
	parallel(t)
	c := startCluster(t, harness.Options{MasterArgs: []string{"--snapshot-threshold=16", "--snapshot-interval=300ms",
		"--encryption-provider-config-reload-interval=300ms"}})
	cl := c.Client()
	dockerJSON := func(what string) string {
		return `{"auths":{"registry.local:5000":{"auth":"` + uniqueValue(t, what) + `"}}}`
	}
	secrets := []encryptedSecret{
		{name: "opaque-data", typ: v1.SecretTypeOpaque, values: map[string]string{"password": uniqueValue(t, "opaque")}},
		{name: "opaque-string", typ: v1.SecretTypeOpaque, stringData: true, values: map[string]string{"token": uniqueValue(t, "opaque-string")}},
		{name: "basic", typ: v1.SecretTypeBasicAuth, stringData: true,
			values: map[string]string{"username": uniqueValue(t, "user"), "password": uniqueValue(t, "basic")}},
		{name: "ssh", typ: v1.SecretTypeSSHAuth, values: map[string]string{"ssh-privatekey": uniqueValue(t, "ssh")}},
		{name: "tls", typ: v1.SecretTypeTLS, values: map[string]string{"tls.crt": uniqueValue(t, "crt"), "tls.key": uniqueValue(t, "key")}},
		{name: "dockerconfigjson", typ: v1.SecretTypeDockerConfigJSON, values: map[string]string{".dockerconfigjson": dockerJSON("dcj")}},
		{name: "dockercfg", typ: v1.SecretTypeDockercfg, stringData: true, values: map[string]string{".dockercfg": dockerJSON("dcfg")}},
		{name: "sa-token", typ: v1.SecretTypeServiceAccountToken, values: map[string]string{"token": uniqueValue(t, "satoken")}},
		{name: "bootstrap", typ: v1.SecretTypeBootstrapToken, stringData: true, values: map[string]string{"token-secret": uniqueValue(t, "bootstrap")}},
		{name: "applied", typ: v1.SecretTypeOpaque, stringData: true, kubectl: true, values: map[string]string{"api-key": uniqueValue(t, "applied")}},
	}
	var values []string
	for _, s := range secrets {
		for _, v := range s.values {
			values = append(values, v)
		}
		obj := &v1.Secret{TypeMeta: v1.TypeMeta{Kind: "Secret", APIVersion: "v1"},
			ObjectMeta: v1.ObjectMeta{Name: s.name, Namespace: "default"}, Type: s.typ}
		if s.typ == v1.SecretTypeServiceAccountToken {
			obj.Annotations = map[string]string{v1.ServiceAccountNameKey: "default"}
		}
		if s.stringData {
			obj.StringData = s.values
		} else {
			obj.Data = map[string][]byte{}
			for k, v := range s.values {
				obj.Data[k] = []byte(v)
			}
		}
		if s.kubectl {
			b, err := json.Marshal(obj)
			if err != nil {
				t.Fatal(err)
			}
			f := filepath.Join(t.TempDir(), "secret.json")
			if err := os.WriteFile(f, b, 0o600); err != nil {
				t.Fatal(err)
			}
			if out, stderr, err := c.Kubectl("apply", "-f", f); err != nil {
				t.Fatalf("kubectl apply: %v\n%s%s", err, out, stderr)
			}
			continue
		}
		if err := cl.Create(ctxT(t, 10*time.Second), obj); err != nil {
			t.Fatalf("create secret %s: %v", s.name, err)
		}
	}
	// A token the leader's legacy token controller writes (not through the
	// API) is sealed as well.
	filled := &v1.Secret{ObjectMeta: v1.ObjectMeta{Name: "sa-filled", Namespace: "default",
		Annotations: map[string]string{v1.ServiceAccountNameKey: "default"}}, Type: v1.SecretTypeServiceAccountToken}
	if err := cl.Create(ctxT(t, 10*time.Second), filled); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the controller's token in sa-filled", func() (bool, string) {
		var got v1.Secret
		err := cl.Get(ctxT(t, 5*time.Second), "secrets", "default", "sa-filled", &got)
		tok := string(got.Data[v1.ServiceAccountTokenKey])
		if err != nil || !strings.HasPrefix(tok, "eyJ") {
			return false, fmt.Sprint(tok, err)
		}
		values = append(values, tok)
		return true, ""
	})
	// A ConfigMap's value is stored in clear: the scan must find it, or it
	// proves nothing.
	control := uniqueValue(t, "control")
	cm := &v1.ConfigMap{ObjectMeta: v1.ObjectMeta{Name: "control", Namespace: "default"}, Data: map[string]string{"v": control}}
	if err := cl.Create(ctxT(t, 10*time.Second), cm); err != nil {
		t.Fatal(err)
	}
	written, err := strconv.ParseUint(cm.ResourceVersion, 10, 64)
	if err != nil {
		t.Fatalf("control resourceVersion %q: %v", cm.ResourceVersion, err)
	}
	// More writes than --snapshot-threshold, so that every master takes a
	// snapshot holding the Secrets.
	for i := 0; i < 20; i++ {
		if err := cl.Create(ctxT(t, 10*time.Second), &v1.ConfigMap{ObjectMeta: v1.ObjectMeta{Name: "filler-" + strconv.Itoa(i), Namespace: "default"}}); err != nil {
			t.Fatal(err)
		}
	}
	c.WaitCaughtUp(30 * time.Second)
	for i := range c.Masters {
		waitFor(t, 60*time.Second, fmt.Sprintf("master %d's snapshot of index %d", i, written), func() (bool, string) {
			idx := newestSnapshotIndex(c, i)
			return idx >= written, fmt.Sprintf("newest snapshot %d", idx)
		})
	}
	backup := filepath.Join(t.TempDir(), "backup.orch")
	if out, stderr, err := c.Orchctl("", "snapshot", "save", backup); err != nil {
		t.Fatalf("snapshot save: %v\n%s%s", err, out, stderr)
	}
	var files []string
	for i := range c.Masters {
		files = append(files, masterFiles(t, c, i)...)
	}
	files = append(files, backup)
	if found := scanFiles(t, files, values); len(found) > 0 {
		t.Errorf("Secret values stored in clear:\n%s", strings.Join(found, "\n"))
	}
	// The control is in every raft log, in a snapshot of every master
	// (older ones predate it) and in the backup.
	holders := map[string]bool{}
	for _, f := range scanFiles(t, files, []string{control}) {
		file, _, _ := strings.Cut(f, " holds ")
		holders[file] = true
	}
	for i, m := range c.Masters {
		inSnapshot, inLog := false, false
		for f := range holders {
			inSnapshot = inSnapshot || (strings.HasPrefix(f, filepath.Join(m.DataDir, "snapshots")) && filepath.Base(f) == "state.bin")
			inLog = inLog || inRaftLog(m, f)
		}
		if !inLog || !inSnapshot {
			t.Fatalf("master %d: the control value is missing from its raft log or snapshots (found in %v): the scan proves nothing", i, holders)
		}
	}
	if !holders[backup] {
		t.Fatalf("the control value is missing from the backup: the scan proves nothing")
	}
	for i := range c.Masters {
		readSecrets(t, c, i, secrets)
	}

	// Rotation, as Kubernetes documents it (the harness's masters share one
	// PKI directory, so each step edits every master's file at once).
	waitAll := func(key string, reloads int) {
		for i := range c.Masters {
			waitFor(t, 30*time.Second, fmt.Sprintf("master %d on key %s after %d reloads", i, key, reloads),
				func() (bool, string) { return primaryKeyOn(t, c, i, key, reloads) })
		}
	}
	waitAll("key1", 0)
	orchd(t, "pki", "encryption-key", "add", "key2", "--dir", c.PKIDir)
	waitAll("key1", 1)
	orchd(t, "pki", "encryption-key", "use", "key2", "--dir", c.PKIDir)
	waitAll("key2", 2)
	out, stderr, err := c.Orchctl("", "secrets", "reencrypt")
	// Every Secret: the test's and sa-filled.
	if want := fmt.Sprintf("rewrote %d secrets", len(secrets)+1); err != nil || !strings.Contains(out, want) {
		t.Fatalf("orchctl secrets reencrypt: %v (want %q)\n%s%s", err, want, out, stderr)
	}
	orchd(t, "pki", "encryption-key", "remove", "key1", "--dir", c.PKIDir)
	waitAll("key2", 3)
	if out := orchd(t, "pki", "encryption-key", "list", "--dir", c.PKIDir); !strings.Contains(out, "aesgcm key2 (primary)") || strings.Contains(out, "key1") {
		t.Errorf("keys after the rotation:\n%s", out)
	}
	for i := range c.Masters {
		readSecrets(t, c, i, secrets)
	}
	// A restarted master reads them with the new key.
	c.Stop(1)
	waitFor(t, 30*time.Second, "master 1 to stop", func() (bool, string) { return !c.Masters[1].Running(), "" })
	c.Start(1)
	c.WaitLeader(30 * time.Second)
	c.WaitCaughtUp(30 * time.Second)
	readSecrets(t, c, 1, secrets)

	// A backup after the rotation holds no value in clear and only key2's
	// envelopes; it restores with the key file, and without it every
	// Secret is a 500 naming key2.
	rotated := filepath.Join(t.TempDir(), "rotated.orch")
	if out, stderr, err := c.Orchctl("", "snapshot", "save", rotated); err != nil {
		t.Fatalf("snapshot save: %v\n%s%s", err, out, stderr)
	}
	if found := scanFiles(t, []string{rotated}, values); len(found) > 0 {
		t.Errorf("Secret values in clear after the rotation:\n%s", strings.Join(found, "\n"))
	}
	b, err := os.ReadFile(rotated)
	if err != nil {
		t.Fatal(err)
	}
	// Every envelope (base64 in the JSON of data and of the annotation)
	// names its key right after the prefix.
	keysUsed := map[string]int{}
	for _, m := range regexp.MustCompile(`azhzOmVuYzph[A-Za-z0-9+/]*=*`).FindAll(b, -1) {
		env, err := base64.StdEncoding.DecodeString(string(m))
		if err != nil {
			t.Fatalf("an envelope in the backup is not base64: %v", err)
		}
		parts := strings.SplitN(string(env), ":", 6)
		if len(parts) < 6 {
			t.Fatalf("short envelope %q", env[:min(len(env), 40)])
		}
		keysUsed[parts[2]+"/"+parts[4]]++
	}
	// One envelope per value of every Secret (the legacy token controller
	// adds ca.crt and namespace to the token Secrets) and one for the
	// applied Secret's annotation.
	all, _, err := client.ListTyped[v1.Secret](ctxT(t, 10*time.Second), cl, "secrets", "", client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := 1
	for _, s := range all {
		want += len(s.Data)
	}
	if keysUsed["aesgcm/key2"] != want || len(keysUsed) != 1 {
		t.Errorf("envelopes in the rotated backup by key: %v, want %d of aesgcm/key2 only", keysUsed, want)
	}
	keyFile := filepath.Join(c.PKIDir, "encryption-config.yaml")
	restored := startCluster(t, harness.Options{Masters: 1, EncryptionConfig: keyFile, MasterArgs: []string{"--restore", rotated}})
	readSecrets(t, restored, 0, secrets)
	keyless := startCluster(t, harness.Options{Masters: 1, MasterArgs: []string{"--restore", rotated}})
	var got v1.Secret
	err = keyless.Client().Get(ctxT(t, 10*time.Second), "secrets", "default", "opaque-data", &got)
	if v1.CodeOf(err) != 500 || !strings.Contains(err.Error(), `key "key2"`) {
		t.Errorf("a restore without the key: get secret: %v; want a 500 naming key2", err)
	}
	if strings.Contains(fmt.Sprint(err), "azhzOmVuYzph") || strings.Contains(fmt.Sprint(err), "k8s:enc:aesgcm:v1:key2:") {
		t.Errorf("the 500 shows the envelope: %v", err)
	}
}
