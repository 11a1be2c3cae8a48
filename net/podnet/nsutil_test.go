package podnet

import "testing"

func TestUnescapeMountinfo(t *testing.T) {
	for in, want := range map[string]string{
		"/plain/path":          "/plain/path",
		`/with\040space`:       "/with space",
		`/tab\011and\134slash`: "/tab\tand\\slash",
		`/trailing\04`:         `/trailing\04`,
	} {
		if got := unescapeMountinfo(in); got != want {
			t.Errorf("unescapeMountinfo(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestVethName(t *testing.T) {
	a, b := vethName("pod-a"), vethName("pod-b")
	if len(a) != 12 || a[:4] != "veth" || a == b || vethName("pod-a") != a {
		t.Errorf("vethName: %q %q", a, b)
	}
	if err := validLinkName(a); err != nil {
		t.Error(err)
	}
}
