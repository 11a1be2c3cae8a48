// Package v1 holds orch's object types, shaped like Kubernetes core/v1 so that
// manifests of the supported kinds (Namespace, Node, Pod, ReplicationController,
// Service, Endpoints, and apps/v1 ReplicaSet and DaemonSet) load unchanged, together with their defaulting,
// validation, label selectors and the resource registry that maps REST
// resource names to kinds.
//
// Objects read from the store are shared and immutable: copy before changing
// (DeepCopy, or a shallow struct copy that replaces whole fields).
package v1
