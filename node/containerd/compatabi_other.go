//go:build !amd64

package containerd

// probeCompatABIs reports every ABI present off amd64: the profile's
// architectures are left as containerd makes them.
func probeCompatABIs() compatABIs { return compatABIs{X32: true, IA32: true} }
