package credentialprovider

import (
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// AuthConfig is one set of credentials for a registry.
type AuthConfig struct {
	Username string
	Password string
	Email    string
}

// Keyring is the kubelet's BasicDockerKeyring: credentials by registry
// location (host[:port][/path], host labels may be globs such as
// *.example.com), looked up most specific first.
type Keyring struct {
	index []string // keys, reverse-sorted so longer paths come first
	creds map[string][]AuthConfig
}

// The Docker Hub's location in configurations (https://index.docker.io/v1/
// reads as index.docker.io).
const defaultRegistryHost = "index.docker.io"

// Add adds a configuration's entries. A location may carry a scheme and a
// /v1/ or /v2/ prefix of its path (both ignored, as Docker's clients do);
// an unparsable location is skipped.
func (k *Keyring) Add(cfg DockerConfig) {
	if k.creds == nil {
		k.creds = map[string][]AuthConfig{}
	}
	// The map's order must not decide which credential of a location is
	// tried first.
	locs := make([]string, 0, len(cfg))
	for loc := range cfg {
		locs = append(locs, loc)
	}
	sort.Strings(locs)
	for _, loc := range locs {
		ident := cfg[loc]
		value := loc
		if !strings.HasPrefix(value, "https://") && !strings.HasPrefix(value, "http://") {
			value = "https://" + value
		}
		parsed, err := url.Parse(value)
		if err != nil {
			continue
		}
		path := parsed.Path
		if strings.HasPrefix(path, "/v2/") || strings.HasPrefix(path, "/v1/") {
			path = path[3:]
		}
		key := parsed.Host
		if path != "" && path != "/" {
			key += path
		}
		if _, ok := k.creds[key]; !ok {
			k.index = append(k.index, key)
		}
		k.creds[key] = append(k.creds[key], AuthConfig{Username: ident.Username, Password: ident.Password, Email: ident.Email})
	}
	sort.Sort(sort.Reverse(sort.StringSlice(k.index)))
}

// Lookup returns the credentials that apply to image, a repository name
// without tag or digest ("registry.example.com:5000/team/app",
// "docker.io/library/busybox"), most specific location first, and whether
// there are any. Docker Hub images fall back to index.docker.io's.
func (k *Keyring) Lookup(image string) ([]AuthConfig, bool) {
	var ret []AuthConfig
	for _, key := range k.index {
		if urlsMatch(key, image) {
			ret = append(ret, k.creds[key]...)
		}
	}
	if len(ret) > 0 {
		return ret, true
	}
	if isDefaultRegistryMatch(image) {
		if auth, ok := k.creds[defaultRegistryHost]; ok {
			return slices.Clone(auth), true
		}
	}
	return nil, false
}

// isDefaultRegistryMatch reports whether image is pulled from the Docker
// Hub: no registry part, or docker.io / index.docker.io, or a first part
// that is no host (neither "." nor ":").
func isDefaultRegistryMatch(image string) bool {
	first, _, hasSlash := strings.Cut(image, "/")
	switch {
	case first == "":
		return false
	case !hasSlash:
		return true
	case first == "docker.io" || first == "index.docker.io":
		return true
	}
	return !strings.ContainsAny(first, ".:")
}

// urlsMatch is the kubelet's URLsMatchStr: same port, same number of host
// labels each matching its glob, and the key's path a prefix of the
// image's.
func urlsMatch(glob, target string) bool {
	g, err := url.Parse("https://" + glob)
	if err != nil {
		return false
	}
	t, err := url.Parse("https://" + target)
	if err != nil {
		return false
	}
	gParts, gPort := splitURL(g)
	tParts, tPort := splitURL(t)
	if gPort != tPort || len(gParts) != len(tParts) || !strings.HasPrefix(t.Path, g.Path) {
		return false
	}
	for i, p := range gParts {
		if ok, err := filepath.Match(p, tParts[i]); err != nil || !ok {
			return false
		}
	}
	return true
}

func splitURL(u *url.URL) (parts []string, port string) {
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		host, port = u.Host, ""
	}
	return strings.Split(host, "."), port
}
