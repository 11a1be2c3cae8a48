package v1

// AnnotationAgentCertSHA256 is the annotation on a Node in which the node
// agent publishes the hex SHA-256 of the DER certificate of its HTTPS
// endpoint (pod logs, image upload). The agent generates that certificate
// when it starts and republishes the pin; masters dial the agent at the
// node's InternalIP address and status.daemonEndpoints.kubeletEndpoint.Port
// and accept only a peer certificate with this digest.
const AnnotationAgentCertSHA256 = "node.orch.io/agent-cert-sha256"

// MaxImageUploadBytes caps the body of an image upload (POST
// /api/v1/nodes/{name}/images and the agent's POST /images): an OCI image
// tarball.
const MaxImageUploadBytes int64 = 512 << 20

// ImageLoadResult is the answer to an image upload: the names of the images
// the tarball held, as the node's runtime imported them.
type ImageLoadResult struct {
	Images []string `json:"images"`
}
