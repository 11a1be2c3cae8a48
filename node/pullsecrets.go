package node

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/distribution/reference"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/events"
	"orch.io/orch/node/credentialprovider"
)

// Image pull Secrets, as the kubelet uses them: before a container starts
// the agent GETs each Secret the pod's imagePullSecrets name (the Node
// authorizer lets it read exactly those), builds the kubelet's keyring
// from their .dockerconfigjson and .dockercfg values and hands the
// runtime the credentials that match the image's repository. Nothing is
// cached or written to the node's disk: the Secrets live in memory for
// one start.

// Reasons of a container waiting for its image, as the kubelet's.
const (
	reasonErrImagePull        = "ErrImagePull"
	reasonImagePullBackOff    = "ImagePullBackOff"
	reasonErrImageNeverPull   = "ErrImageNeverPull"
	reasonFailedPullSecretGet = "FailedToRetrieveImagePullSecret"
)

// imagePullBackOffAfter is how long a failed pull shows ErrImagePull
// before it shows ImagePullBackOff for the rest of its back-off, as a
// kubelet's next pod sync turns one into the other.
const imagePullBackOffAfter = time.Second

// pullCredentials returns the credentials of the pod's image pull Secrets
// for image's repository, most specific registry location first (none: an
// anonymous pull). A Secret that cannot be read is skipped with the
// kubelet's FailedToRetrieveImagePullSecret event on the pod; a Secret
// whose value is malformed fails the pull, as in the kubelet.
func (w *podWorker) pullCredentials(ctx context.Context, pod *v1.Pod, image string) ([]credentialprovider.AuthConfig, error) {
	if len(pod.Spec.ImagePullSecrets) == 0 {
		return nil, nil
	}
	var secrets []*v1.Secret
	var failed []string
	for _, ref := range pod.Spec.ImagePullSecrets {
		if ref.Name == "" {
			// Validation lets empty names through, as Kubernetes'.
			continue
		}
		var s v1.Secret
		if err := w.a.cfg.Client.Get(ctx, "secrets", pod.Namespace, ref.Name, &s); err != nil {
			w.log.Info("unable to retrieve pull secret, the image pull may not succeed", "secret", pod.Namespace+"/"+ref.Name, "err", err)
			failed = append(failed, ref.Name)
			continue
		}
		secrets = append(secrets, &s)
	}
	if len(failed) > 0 {
		w.a.cfg.Recorder.Eventf(pod, v1.EventTypeWarning, reasonFailedPullSecretGet,
			"Unable to retrieve some image pull secrets (%s); attempting to pull the image may not succeed.", strings.Join(failed, ", "))
	}
	if len(secrets) == 0 {
		return nil, nil
	}
	kr, err := credentialprovider.FromSecrets(secrets)
	if err != nil {
		return nil, err
	}
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return nil, fmt.Errorf("parse image reference %q: %w", image, err)
	}
	auth, _ := kr.Lookup(named.Name())
	return auth, nil
}

// imagePullBackOff turns a container's ErrImagePull into the kubelet's
// ImagePullBackOff (reason, message and events) while its next pull waits
// for the back-off; it reports whether the container waits for a pull.
func (w *podWorker) imagePullBackOff(pod *v1.Pod, c *v1.Container, st *containerState) bool {
	w.mu.Lock()
	switch st.waitReason {
	case reasonImagePullBackOff:
		w.mu.Unlock()
		return true
	case reasonErrImagePull:
	default:
		w.mu.Unlock()
		return false
	}
	st.waitReason = reasonImagePullBackOff
	st.waitMessage = fmt.Sprintf("Back-off pulling image %q: %s: %s", c.Image, reasonErrImagePull, st.waitMessage)
	w.mu.Unlock()
	ref := events.ContainerRef(pod, c.Name)
	w.a.cfg.Recorder.RefEventf(ref, v1.EventTypeNormal, "BackOff", "Back-off pulling image %q", c.Image)
	w.a.cfg.Recorder.RefEventf(ref, v1.EventTypeWarning, "Failed", "Error: %s", reasonImagePullBackOff)
	return true
}
