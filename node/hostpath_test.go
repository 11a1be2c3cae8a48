package node

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	v1 "orch.io/orch/api/v1"
)

func TestCheckHostPath(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	typ := func(s v1.HostPathType) *v1.HostPathType { return &s }

	cases := []struct {
		name    string
		path    string
		typ     *v1.HostPathType
		wantErr string
		made    os.FileMode // DirectoryOrCreate and FileOrCreate: what must exist afterwards
	}{
		{name: "no type, missing", path: missing},
		{name: "unset type, missing", path: missing, typ: typ(v1.HostPathUnset)},
		{name: "relative", path: "var/log", wantErr: `hostPath "var/log" is not an absolute path`},
		{name: "DirectoryOrCreate makes it", path: filepath.Join(dir, "new", "sub"), typ: typ(v1.HostPathDirectoryOrCreate), made: os.ModeDir | 0o755},
		{name: "DirectoryOrCreate on a file", path: file, typ: typ(v1.HostPathDirectoryOrCreate), wantErr: "hostPath type check failed: " + file + " is not a directory, it's a File"},
		{name: "Directory", path: dir, typ: typ(v1.HostPathDirectory)},
		{name: "Directory missing", path: missing, typ: typ(v1.HostPathDirectory), wantErr: "hostPath " + missing + " doesn't exist"},
		{name: "Directory on a file", path: file, typ: typ(v1.HostPathDirectory), wantErr: "is not a directory"},
		{name: "FileOrCreate makes it", path: filepath.Join(dir, "newfile"), typ: typ(v1.HostPathFileOrCreate), made: 0o644},
		{name: "FileOrCreate without its parent", path: filepath.Join(dir, "nodir", "f"), typ: typ(v1.HostPathFileOrCreate), wantErr: "no such file or directory"},
		{name: "FileOrCreate on a directory", path: dir, typ: typ(v1.HostPathFileOrCreate), wantErr: "hostPath type check failed: " + dir + " is not a file, it's a Directory"},
		{name: "File", path: file, typ: typ(v1.HostPathFile)},
		{name: "File missing", path: missing, typ: typ(v1.HostPathFile), wantErr: "hostPath " + missing + " doesn't exist"},
		{name: "Socket", path: sock, typ: typ(v1.HostPathSocket)},
		{name: "Socket on a file", path: file, typ: typ(v1.HostPathSocket), wantErr: "hostPath type check failed: " + file + " is not a socket file, it's a File"},
		{name: "CharDevice", path: "/dev/null", typ: typ(v1.HostPathCharDev)},
		{name: "CharDevice on a file", path: file, typ: typ(v1.HostPathCharDev), wantErr: "is not a character device, it's a File"},
		{name: "BlockDevice on a character device", path: "/dev/null", typ: typ(v1.HostPathBlockDev), wantErr: "hostPath type check failed: /dev/null is not a block device, it's a CharDevice"},
		{name: "File on a fifo", path: fifo, typ: typ(v1.HostPathFile),
			wantErr: "hostPath type check failed, " + fifo + " is not a file, unable to determine its type: only recognise file, directory, socket, block device and character devices"},
		{name: "unknown type", path: dir, typ: typ("Fifo"), wantErr: "Fifo is an invalid volume type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := checkHostPath(&v1.HostPathVolumeSource{Path: tc.path, Type: tc.typ})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.made != 0 {
				st, err := os.Stat(tc.path)
				if err != nil || st.Mode() != tc.made {
					t.Errorf("%s: %v %v, want %v", tc.path, st.Mode(), err, tc.made)
				}
			}
		})
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("a check made %s: %v", missing, err)
	}
}
