package v1

// PodSecretNames returns the names of the Secrets a pod names, each once,
// in the order it names them: its imagePullSecrets. The Node authorizer
// lets a node get exactly these Secrets of its pods' namespaces.
func PodSecretNames(s *PodSpec) []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range s.ImagePullSecrets {
		if r.Name != "" && !seen[r.Name] {
			seen[r.Name] = true
			out = append(out, r.Name)
		}
	}
	return out
}
