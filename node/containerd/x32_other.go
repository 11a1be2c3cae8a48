//go:build !amd64

package containerd

// probeKernelX32 reports true off amd64: the profile's architectures are
// left as containerd makes them.
func probeKernelX32() bool { return true }
