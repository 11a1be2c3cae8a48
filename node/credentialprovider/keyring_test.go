package credentialprovider

import (
	"reflect"
	"testing"
)

func TestKeyringLookup(t *testing.T) {
	a := func(user string) AuthConfig { return AuthConfig{Username: user, Password: "pw-" + user} }
	entry := func(user string) DockerConfigEntry { return DockerConfigEntry{Username: user, Password: "pw-" + user} }
	for _, tc := range []struct {
		name  string
		cfg   DockerConfig
		image string
		want  []AuthConfig
	}{
		{"host", DockerConfig{"registry.example.com": entry("u")}, "registry.example.com/team/app", []AuthConfig{a("u")}},
		{"host with port", DockerConfig{"127.0.0.1:5000": entry("u")}, "127.0.0.1:5000/orch/hello", []AuthConfig{a("u")}},
		{"port must match", DockerConfig{"127.0.0.1:5000": entry("u")}, "127.0.0.1:5001/orch/hello", nil},
		{"no port does not match a port", DockerConfig{"127.0.0.1": entry("u")}, "127.0.0.1:5000/orch/hello", nil},
		{"scheme ignored", DockerConfig{"https://registry.example.com": entry("u")}, "registry.example.com/app", []AuthConfig{a("u")}},
		{"http scheme ignored", DockerConfig{"http://127.0.0.1:5000": entry("u")}, "127.0.0.1:5000/app", []AuthConfig{a("u")}},
		{"v2 prefix ignored", DockerConfig{"https://registry.example.com/v2/": entry("u")}, "registry.example.com/app", []AuthConfig{a("u")}},
		{"v1 prefix with a path", DockerConfig{"registry.example.com/v1/team": entry("u")}, "registry.example.com/team/app", []AuthConfig{a("u")}},
		{"other host", DockerConfig{"registry.example.com": entry("u")}, "other.example.com/app", nil},
		{"glob label", DockerConfig{"*.example.com": entry("u")}, "registry.example.com/app", []AuthConfig{a("u")}},
		{"glob needs as many labels", DockerConfig{"*.example.com": entry("u")}, "a.registry.example.com/app", nil},
		{"glob does not match the bare domain", DockerConfig{"*.example.com": entry("u")}, "example.com/app", nil},
		{"path prefix", DockerConfig{"registry.example.com/team": entry("u")}, "registry.example.com/team/app", []AuthConfig{a("u")}},
		{"path prefix elsewhere", DockerConfig{"registry.example.com/team": entry("u")}, "registry.example.com/other/app", nil},
		{"most specific first", DockerConfig{
			"registry.example.com":      entry("host"),
			"registry.example.com/team": entry("team"),
		}, "registry.example.com/team/app", []AuthConfig{a("team"), a("host")}},
		{"docker hub through index.docker.io", DockerConfig{"https://index.docker.io/v1/": entry("hub")}, "docker.io/library/busybox", []AuthConfig{a("hub")}},
		{"docker hub short name", DockerConfig{"index.docker.io": entry("hub")}, "library/busybox", []AuthConfig{a("hub")}},
		{"docker hub user repo", DockerConfig{"index.docker.io": entry("hub")}, "someone/app", []AuthConfig{a("hub")}},
		{"docker hub creds not for other registries", DockerConfig{"index.docker.io": entry("hub")}, "registry.example.com/app", nil},
		{"docker hub creds not for localhost:5000", DockerConfig{"index.docker.io": entry("hub")}, "localhost:5000/app", nil},
		{"empty", DockerConfig{}, "registry.example.com/app", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kr := &Keyring{}
			kr.Add(tc.cfg)
			got, ok := kr.Lookup(tc.image)
			if ok != (len(tc.want) > 0) || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Lookup(%q) = %+v, %v; want %+v", tc.image, got, ok, tc.want)
			}
		})
	}
}

// TestKeyringSeveralSecrets: credentials for one location from several
// Secrets are all tried, in the pod's order.
func TestKeyringSeveralSecrets(t *testing.T) {
	kr := &Keyring{}
	kr.Add(DockerConfig{"127.0.0.1:5000": {Username: "first", Password: "1"}})
	kr.Add(DockerConfig{"127.0.0.1:5000": {Username: "second", Password: "2"}, "other:5000": {Username: "x"}})
	got, ok := kr.Lookup("127.0.0.1:5000/app")
	want := []AuthConfig{{Username: "first", Password: "1"}, {Username: "second", Password: "2"}}
	if !ok || !reflect.DeepEqual(got, want) {
		t.Fatalf("Lookup = %+v, %v; want %+v", got, ok, want)
	}
}

func TestIsDefaultRegistryMatch(t *testing.T) {
	for image, want := range map[string]bool{
		"busybox":                    true,
		"library/busybox":            true,
		"docker.io/library/busybox":  true,
		"index.docker.io/library/bb": true,
		"registry.example.com/app":   false,
		"localhost:5000/app":         false,
		"/app":                       false,
	} {
		if got := isDefaultRegistryMatch(image); got != want {
			t.Errorf("isDefaultRegistryMatch(%q) = %v, want %v", image, got, want)
		}
	}
}
