package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	v1 "orch.io/orch/api/v1"
)

// The service environment of a container, as the kubelet's
// getServiceEnvVarMap and envvars.FromServices: for every service of the
// pod's namespace with a cluster IP (when the pod's enableServiceLinks is
// unset or true) and always for the kubernetes Service of default,
// {SVC}_SERVICE_HOST, {SVC}_SERVICE_PORT, {SVC}_SERVICE_PORT_{NAME} and
// Docker's link variables {SVC}_PORT and {SVC}_PORT_{port}_{PROTO}
// (_PROTO, _PORT, _ADDR). The agent follows services (the same watch as
// its proxy's) and refuses to start a container before it has read them
// once, as the kubelet does.

// errServicesNotSynced is the kubelet's error for a container started
// before the node has read the services; the worker tries again soon.
var errServicesNotSynced = errors.New("services have not yet been read at least once, cannot construct envvars")

// serviceEnvState is the agent's copy of the cluster's services for
// containers' environments.
type serviceEnvState struct {
	mu sync.Mutex
	// watched: the agent follows services (Run); an agent that does not
	// (unit tests' workers) has none, as a kubelet without masters.
	watched bool
	synced  bool
	// byNamespace holds the services with a cluster IP, sorted by name.
	byNamespace map[string][]*v1.Service
}

// setServices records the services of the cluster.
func (s *serviceEnvState) setServices(services map[string]*v1.Service) {
	byNS := map[string][]*v1.Service{}
	for _, svc := range services {
		if isServiceIPSet(svc) {
			byNS[svc.Namespace] = append(byNS[svc.Namespace], svc)
		}
	}
	for _, l := range byNS {
		sort.Slice(l, func(i, j int) bool { return l[i].Name < l[j].Name })
	}
	s.mu.Lock()
	s.byNamespace, s.synced = byNS, true
	s.mu.Unlock()
}

// servicesPath is where the agent keeps the services its containers'
// environments were last built from.
func (a *Agent) servicesPath() string { return filepath.Join(a.cfg.StateDir, "services.json") }

// savedService is what a container's environment needs of a service.
type savedService struct {
	Namespace string           `json:"namespace"`
	Name      string           `json:"name"`
	ClusterIP string           `json:"clusterIP"`
	Ports     []v1.ServicePort `json:"ports,omitempty"`
}

// save writes the services with a cluster IP to path (0600, atomically).
func (s *serviceEnvState) save(path string) error {
	s.mu.Lock()
	var out []savedService
	for _, l := range s.byNamespace {
		for _, svc := range l {
			out = append(out, savedService{Namespace: svc.Namespace, Name: svc.Name, ClusterIP: svc.Spec.ClusterIP, Ports: svc.Spec.Ports})
		}
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		return out[i].Namespace+"/"+out[i].Name < out[j].Namespace+"/"+out[j].Name
	})
	b, err := json.Marshal(out)
	if err != nil {
		return fmt.Errorf("encode services: %w", err)
	}
	return writeFileAtomic(path, b, privateFileMode)
}

// load reads the services save wrote, unless services were read meanwhile;
// a missing file is no error (the agent waits for the first read).
func (s *serviceEnvState) load(path string) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var saved []savedService
	if err := json.Unmarshal(b, &saved); err != nil {
		return fmt.Errorf("decode %s: %w", path, err)
	}
	m := make(map[string]*v1.Service, len(saved))
	for _, sv := range saved {
		m[sv.Namespace+"/"+sv.Name] = &v1.Service{ObjectMeta: v1.ObjectMeta{Namespace: sv.Namespace, Name: sv.Name},
			Spec: v1.ServiceSpec{ClusterIP: sv.ClusterIP, Ports: sv.Ports}}
	}
	s.mu.Lock()
	read := s.synced
	s.mu.Unlock()
	if !read {
		s.setServices(m)
	}
	return nil
}

// isServiceIPSet is Kubernetes' IsServiceIPSet: a cluster IP other than
// None.
func isServiceIPSet(svc *v1.Service) bool {
	return svc.Spec.ClusterIP != "" && svc.Spec.ClusterIP != v1.ClusterIPNone
}

// serviceEnv returns the service variables of a container of pod, in the
// order FromServices makes them for the services sorted by name.
func (a *Agent) serviceEnv(pod *v1.Pod) ([][2]string, error) {
	links := pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks
	s := &a.serviceEnvState
	s.mu.Lock()
	watched, synced := s.watched, s.synced
	defaults, own := s.byNamespace[v1.DefaultNamespace], s.byNamespace[pod.Namespace]
	s.mu.Unlock()
	if watched && !synced {
		return nil, errServicesNotSynced
	}
	chosen := map[string]*v1.Service{}
	for _, svc := range defaults {
		if svc.Name == kubernetesServiceName {
			chosen[svc.Name] = svc
		}
	}
	if chosen[kubernetesServiceName] == nil {
		// Until the kubernetes Service exists, the API address the node
		// was configured with stands for it.
		if svc := a.configuredKubernetesService(); svc != nil {
			chosen[kubernetesServiceName] = svc
		}
	}
	if links {
		for _, svc := range own {
			chosen[svc.Name] = svc
		}
	}
	names := make([]string, 0, len(chosen))
	for n := range chosen {
		names = append(names, n)
	}
	sort.Strings(names)
	var out [][2]string
	for _, n := range names {
		out = append(out, serviceVars(chosen[n])...)
	}
	return out, nil
}

// kubernetesServiceName is the Service in default where pods find the API.
const kubernetesServiceName = "kubernetes"

// configuredKubernetesService is the kubernetes Service as the node's
// configured API address (KubernetesServiceHost and _Port) describes it,
// with Kubernetes' port name https; nil when none is configured.
func (a *Agent) configuredKubernetesService() *v1.Service {
	h, p := a.cfg.KubernetesServiceHost, a.cfg.KubernetesServicePort
	port, err := strconv.ParseInt(p, 10, 32)
	if h == "" || err != nil {
		return nil
	}
	return &v1.Service{ObjectMeta: v1.ObjectMeta{Name: kubernetesServiceName, Namespace: v1.DefaultNamespace},
		Spec: v1.ServiceSpec{ClusterIP: h, Ports: []v1.ServicePort{{Name: "https", Port: int32(port), Protocol: v1.ProtocolTCP}}}}
}

// serviceVars is Kubernetes' envvars.FromServices for one service.
func serviceVars(svc *v1.Service) [][2]string {
	if !isServiceIPSet(svc) || len(svc.Spec.Ports) == 0 {
		return nil
	}
	prefix := envVarName(svc.Name)
	ip := svc.Spec.ClusterIP
	out := [][2]string{
		{prefix + "_SERVICE_HOST", ip},
		{prefix + "_SERVICE_PORT", strconv.Itoa(int(svc.Spec.Ports[0].Port))},
	}
	for _, sp := range svc.Spec.Ports {
		if sp.Name != "" {
			out = append(out, [2]string{prefix + "_SERVICE_PORT_" + envVarName(sp.Name), strconv.Itoa(int(sp.Port))})
		}
	}
	// Docker's link variables.
	for i, sp := range svc.Spec.Ports {
		proto := sp.Protocol
		if proto == "" {
			proto = v1.ProtocolTCP
		}
		lower := strings.ToLower(proto)
		url := fmt.Sprintf("%s://%s", lower, net.JoinHostPort(ip, strconv.Itoa(int(sp.Port))))
		if i == 0 {
			out = append(out, [2]string{prefix + "_PORT", url})
		}
		pp := fmt.Sprintf("%s_PORT_%d_%s", prefix, sp.Port, strings.ToUpper(proto))
		out = append(out,
			[2]string{pp, url},
			[2]string{pp + "_PROTO", lower},
			[2]string{pp + "_PORT", strconv.Itoa(int(sp.Port))},
			[2]string{pp + "_ADDR", ip})
	}
	return out
}

// envVarName is Kubernetes' makeEnvVariableName: upper case, '-' as '_'.
func envVarName(s string) string {
	return strings.ToUpper(strings.ReplaceAll(s, "-", "_"))
}

// containerHostname is the HOSTNAME containerd's CRI gives a container:
// the pod's hostname, the node's for a pod on the host's network.
func containerHostname(pod *v1.Pod) (string, error) {
	if pod.Spec.HostNetwork {
		h, err := os.Hostname()
		if err != nil {
			return "", fmt.Errorf("node hostname: %w", err)
		}
		return h, nil
	}
	return podHostname(pod), nil
}
