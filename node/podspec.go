package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	v1 "orch.io/orch/api/v1"
)

// Files of a pod's directory (StateDir/pods/<uid>/).
const (
	hostsFile    = "hosts"
	resolvFile   = "resolv.conf"
	hostnameFile = "hostname"
	volumesDir   = "volumes"
	shmDir       = "shm"
	podSpecFile  = "pod.json"
)

// ensureSandbox gives the pod its namespaces and address (or finds the ones
// a previous agent made) and writes its /etc files and volume directories.
func (w *podWorker) ensureSandbox(ctx context.Context, pod *v1.Pod) error {
	sb, ok, err := w.a.podSandbox(ctx, w.uid, pod)
	if err != nil {
		return err
	}
	if !ok {
		if sb, err = w.a.network.CreateSandbox(ctx, w.uid, podHostname(pod)); err != nil {
			return err
		}
	}
	dir := w.a.podDir(w.uid)
	if err := makePrivateDirs(dir, filepath.Join(dir, volumesDir)); err != nil {
		return fmt.Errorf("pod dir: %w", err)
	}
	if needsShm(pod) {
		if err := w.a.setupShm(filepath.Join(dir, shmDir)); err != nil {
			return err
		}
	}
	for _, v := range pod.Spec.Volumes {
		if v.EmptyDir == nil {
			continue
		}
		if err := w.a.setupEmptyDir(pod, &v, filepath.Join(dir, volumesDir, v.Name)); err != nil {
			return err
		}
	}
	if err := w.a.setPodVolumesOwnership(pod, dir); err != nil {
		return err
	}
	host := podHostname(pod)
	hosts := fmt.Sprintf("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n%s\t%s\n", sb.IP, host)
	if pod.Spec.HostNetwork {
		if host, hosts, err = nodeEtc(); err != nil {
			return err
		}
	}
	files := map[string]string{hostsFile: hosts, hostnameFile: host + "\n", resolvFile: w.a.resolvConf(pod)}
	for name, content := range files {
		// Readable by a container's non-root user; the pod dir is 0700.
		if err := writeFileAtomic(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	w.sandbox = sb
	w.mu.Lock()
	w.netNS, w.hostNet = sb.NetNS, pod.Spec.HostNetwork
	w.mu.Unlock()
	return nil
}

// podHostname is the pod's spec.hostname, else its name (cut to 63 bytes).
func podHostname(pod *v1.Pod) string {
	h := pod.Spec.Hostname
	if h == "" {
		h = pod.Name
	}
	if len(h) > 63 {
		h = strings.TrimRight(h[:63], "-.")
	}
	return h
}

// resolvConf is the pod's /etc/resolv.conf: the cluster's DNS with
// Kubernetes' search path, or the node's own for dnsPolicy Default (and
// ClusterFirst with hostNetwork) or when the cluster runs no DNS.
func (a *Agent) resolvConf(pod *v1.Pod) string {
	if a.cfg.ClusterDNS != "" && usesClusterDNS(pod) {
		d := a.cfg.ClusterDomain
		return fmt.Sprintf("nameserver %s\nsearch %s.svc.%s svc.%s %s\noptions ndots:5\n", a.cfg.ClusterDNS, pod.Namespace, d, d, d)
	}
	b, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		return ""
	}
	return string(b)
}

// containerSpec translates a pod's container into what the runtime runs.
func (w *podWorker) containerSpec(ctx context.Context, pod *v1.Pod, c *v1.Container, attempt int) (*ContainerSpec, error) {
	dir := w.a.podDir(w.uid)
	spec := &ContainerSpec{
		PodUID: w.uid, PodNamespace: pod.Namespace, PodName: pod.Name, Name: c.Name, Attempt: attempt,
		Image: c.Image, Command: c.Command, Args: c.Args, WorkingDir: c.WorkingDir,
		Stdin: c.Stdin, StdinOnce: c.StdinOnce, TTY: c.TTY,
		NetNS: w.sandbox.NetNS, UTSNS: w.sandbox.UTSNS, IPCNS: w.sandbox.IPCNS,
		Hostname: podHostname(pod),
		LogPath:  logPath(dir, c.Name, attempt),
		Mounts: []Mount{
			{Source: filepath.Join(dir, hostsFile), Destination: "/etc/hosts", ReadOnly: true, Options: fileMountOptions()},
			{Source: filepath.Join(dir, resolvFile), Destination: "/etc/resolv.conf", ReadOnly: true, Options: fileMountOptions()},
			{Source: filepath.Join(dir, hostnameFile), Destination: "/etc/hostname", ReadOnly: true, Options: fileMountOptions()},
		},
	}
	if !mountsAt(c, shmPath) {
		spec.Mounts = append(spec.Mounts, Mount{Source: filepath.Join(dir, shmDir), Destination: shmPath, Options: shmMountOptions()})
	}
	env, err := w.containerEnv(ctx, pod, c)
	if err != nil {
		return nil, err
	}
	spec.Env = env
	mounts, err := w.volumeMounts(pod, c)
	if err != nil {
		return nil, err
	}
	spec.Mounts = append(spec.Mounts, mounts...)
	spec.Resources = containerResources(c)
	if spec.Security, err = w.a.containerSecurity(pod, c); err != nil {
		return nil, err
	}
	applyHostNamespaces(pod, spec)
	return spec, nil
}

// containerResources maps requests and limits to cgroup settings as the
// kubelet does: cpu requests → shares, cpu limits → CFS quota, memory
// limits → the memory limit.
func containerResources(c *v1.Container) Resources {
	var r Resources
	if q, ok := c.Resources.Limits[v1.ResourceMemory]; ok {
		r.MemoryLimit = q.Value()
	}
	shares := uint64(2)
	if q, ok := c.Resources.Requests[v1.ResourceCPU]; ok {
		shares = max(uint64(q.MilliValue()*1024/1000), 2)
	} else if q, ok := c.Resources.Limits[v1.ResourceCPU]; ok {
		shares = max(uint64(q.MilliValue()*1024/1000), 2)
	}
	r.CPUShares = shares
	if q, ok := c.Resources.Limits[v1.ResourceCPU]; ok {
		r.CPUPeriod = 100000
		r.CPUQuota = max(q.MilliValue()*100000/1000, 1000)
	}
	r.PidsLimit = 4096
	return r
}
