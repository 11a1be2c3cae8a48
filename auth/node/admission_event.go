package node

import (
	"fmt"

	v1 "orch.io/orch/api/v1"
)

// admitEvent lets a node record events only about itself and the pods
// bound to it, so a node cannot put words in another node's mouth: the
// event (and, for an update, the stored event) must be about the Node
// named after the node or about a pod whose spec.nodeName is the node
// (and whose uid matches, when the event names one), or about a pod that
// no longer exists (its last events may still wait). Kubernetes' own
// NodeRestriction leaves events alone; orch confines them as it confines
// pods.
func admitEvent(self string, a Attributes) error {
	for _, obj := range []v1.Object{a.Object, a.OldObject} {
		if obj == nil {
			continue
		}
		ev, ok := obj.(*v1.Event)
		if !ok {
			return fmt.Errorf("unexpected type %T", obj)
		}
		if err := eventAboutSelf(self, ev.InvolvedObject, a.InvolvedPods); err != nil {
			return err
		}
	}
	return nil
}

func eventAboutSelf(self string, ref v1.ObjectReference, pods map[string]*v1.Pod) error {
	switch ref.Kind {
	case "Node":
		if ref.Name == self {
			return nil
		}
		return fmt.Errorf("node %q can only record events about itself, not node %q", self, ref.Name)
	case "Pod":
		p := pods[v1.Key(ref.Namespace, ref.Name)]
		switch {
		case p == nil:
			// Gone meanwhile (the events of a pod's last moments wait for
			// their write): as for a pod's status, a missing pod is allowed;
			// no other node's pod can be named by it.
			return nil
		case p.Spec.NodeName != self:
			return fmt.Errorf("node %q can only record events about pods bound to it, not pod %s/%s (bound to %q)", self, ref.Namespace, ref.Name, p.Spec.NodeName)
		case ref.UID != "" && ref.UID != p.UID:
			return fmt.Errorf("node %q can only record events about pods bound to it, not pod %s/%s (uid %s, not %s)", self, ref.Namespace, ref.Name, ref.UID, p.UID)
		}
		return nil
	}
	return fmt.Errorf("node %q can only record events about itself and its pods, not a %s", self, ref.Kind)
}
