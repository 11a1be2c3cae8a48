package e2e

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/node/ociimage"
	"orch.io/orch/test/harness"
)

// A node's credentials reach no further than the node (issue 13, done-when
// 1): three masters and two nodes in their own network namespaces, each
// node bootstrapped from a token to its own certificate; with node-1's
// certificate nothing of node-2 (its Node, its pods, its agent) can be
// created, changed, deleted, read or reached, and node-1 cannot steer its
// own Node either. Each case is an attack the shared node token allowed:
// a forged pod IP redirected a Service's traffic, a relabelled or
// untainted node drew pods, any pod could be force-deleted, the token
// opened every agent. The image case is the last one: an image import that
// would swap the image under a running pod.
func TestNodeRestriction(t *testing.T) {
	parallel(t)
	network := harness.NewNet(t)
	c := startCluster(t, harness.Options{Net: network, AuditLog: true})
	admin := c.Client()
	tok := c.CreateBootstrapToken(time.Hour)
	var nodes []*harness.Node
	for _, name := range []string{"node-1", "node-2"} {
		nodes = append(nodes, c.StartBootstrapNode(network, name, tok, "--heartbeat-interval", "1s", "--resync-interval", "2s"))
	}
	for _, nd := range nodes {
		waitReady(t, admin, nd.Name, 90*time.Second)
		if cert := nodeCert(t, nd); cert.Subject.CommonName != "system:node:"+nd.Name {
			t.Fatalf("node %s bootstrapped the certificate of %v", nd.Name, cert.Subject)
		}
	}
	if len(c.Masters) != 3 {
		t.Fatalf("%d masters, want 3", len(c.Masters))
	}
	a := c.BootstrappedNodeClient(nodes[0])
	nameA, nameB := nodes[0].Name, nodes[1].Name

	// A pod on each node, running.
	for _, nd := range nodes {
		p := &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "web-" + nd.Name, Namespace: "default", Labels: map[string]string{"app": "web"}},
			Spec: v1.PodSpec{NodeName: nd.Name, Containers: []v1.Container{{Name: "c", Image: "busybox:1.35", Command: []string{"sleep", "3600"}}}}}
		if err := admin.Create(ctxT(t, 10*time.Second), p); err != nil {
			t.Fatal(err)
		}
	}
	var podB v1.Pod
	waitFor(t, 60*time.Second, "both pods Running", func() (bool, string) {
		pods := runningPods(t, admin, "app=web")
		for _, p := range pods {
			if p.Spec.NodeName == nameB {
				podB = p
			}
		}
		return len(pods) == 2, fmt.Sprintf("%d running", len(pods))
	})
	var nodeB v1.Node
	if err := admin.Get(ctxT(t, 5*time.Second), "nodes", "", nameB, &nodeB); err != nil {
		t.Fatal(err)
	}

	forbidden := func(t *testing.T, err error, says string) {
		t.Helper()
		if v1.CodeOf(err) != 403 || !strings.Contains(err.Error(), says) {
			t.Fatalf("got %v, want 403 saying %q", err, says)
		}
	}
	notOwn := fmt.Sprintf("node %q is not allowed to modify node %q", nameA, nameB)
	noRelationship := fmt.Sprintf("no relationship found between node '%s' and this object", nameA)
	patchNode := func(name, patch string) error {
		var out v1.Node
		return a.Patch(ctxT(t, 10*time.Second), "nodes", "", name, []byte(patch), &out)
	}
	for _, tc := range []struct{ name, node, patch, says string }{
		{"other node's labels", nameB, `{"metadata":{"labels":{"disk":"ssd"}}}`, notOwn},
		{"other node's taints", nameB, `{"spec":{"taints":[{"key":"evil","effect":"NoSchedule"}]}}`, notOwn},
		{"other node's podCIDR", nameB, `{"spec":{"podCIDR":"10.244.200.0/24"}}`, notOwn},
		{"other node's agent certificate", nameB, `{"metadata":{"annotations":{"` + v1.AnnotationAgentCertSHA256 + `":"` + strings.Repeat("0", 64) + `"}}}`, notOwn},
		{"own restricted label", nameA, `{"metadata":{"labels":{"node-restriction.kubernetes.io/secure":"true"}}}`, "is not allowed to modify labels: node-restriction.kubernetes.io/secure"},
		{"own taints", nameA, `{"spec":{"taints":[{"key":"k","effect":"NoSchedule"}]}}`, fmt.Sprintf("node %q is not allowed to modify taints", nameA)},
		{"own podCIDR", nameA, `{"spec":{"podCIDR":"10.244.200.0/24"}}`, "podCIDR"},
	} {
		t.Run(tc.name, func(t *testing.T) { forbidden(t, patchNode(tc.node, tc.patch), tc.says) })
	}
	t.Run("other node's status", func(t *testing.T) {
		var out v1.Node
		forbidden(t, a.PatchStatus(ctxT(t, 10*time.Second), "nodes", "", nameB, []byte(`{"status":{"addresses":[{"type":"InternalIP","address":"10.0.0.1"}]}}`), &out), notOwn)
	})
	t.Run("other node's pod IP", func(t *testing.T) {
		var out v1.Pod
		forbidden(t, a.PatchStatus(ctxT(t, 10*time.Second), "pods", "default", podB.Name, []byte(`{"status":{"podIP":"10.244.0.66"}}`), &out), noRelationship)
	})
	t.Run("own pod forged IP", func(t *testing.T) {
		var out v1.Pod
		err := a.PatchStatus(ctxT(t, 10*time.Second), "pods", "default", "web-"+nameA, []byte(`{"status":{"podIP":"`+podB.Status.PodIP+`"}}`), &out)
		forbidden(t, err, fmt.Sprintf("node %q cannot set pod IP %q", nameA, podB.Status.PodIP))
	})
	t.Run("delete other node's pod", func(t *testing.T) {
		_, err := a.Delete(ctxT(t, 10*time.Second), "pods", "default", podB.Name, nil)
		forbidden(t, err, noRelationship)
	})
	t.Run("force-delete other node's pod", func(t *testing.T) {
		_, err := a.Delete(ctxT(t, 10*time.Second), "pods", "default", podB.Name, &v1.DeleteOptions{GracePeriodSeconds: new(int64)})
		forbidden(t, err, noRelationship)
	})
	t.Run("register another node", func(t *testing.T) {
		forbidden(t, a.Create(ctxT(t, 10*time.Second), &v1.Node{ObjectMeta: v1.ObjectMeta{Name: "node-3"}}),
			fmt.Sprintf("node %q is not allowed to modify node %q", nameA, "node-3"))
	})
	t.Run("read other node's pod", func(t *testing.T) {
		var out v1.Pod
		forbidden(t, a.Get(ctxT(t, 10*time.Second), "pods", "default", podB.Name, &out), noRelationship)
		for _, sel := range []string{"", "spec.nodeName=" + nameB} {
			_, err := a.List(ctxT(t, 10*time.Second), "pods", "", client.ListOptions{FieldSelector: sel})
			forbidden(t, err, "can only list/watch pods with spec.nodeName field selector")
		}
		pods, _, err := client.ListTyped[v1.Pod](ctxT(t, 10*time.Second), a, "pods", "", client.ListOptions{FieldSelector: "spec.nodeName=" + nameA})
		if err != nil || len(pods) != 1 || pods[0].Spec.NodeName != nameA {
			t.Fatalf("own pods: %d, %v", len(pods), err)
		}
	})
	t.Run("create pod", func(t *testing.T) {
		p := &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "planted", Namespace: "default"},
			Spec: v1.PodSpec{NodeName: nameB, Containers: []v1.Container{{Name: "c", Image: "busybox:1.35"}}}}
		forbidden(t, a.Create(ctxT(t, 10*time.Second), p), "can only create mirror pods")
	})
	// Every attack is in the audit log, refused, under node A's name.
	userA := "system:node:" + nameA
	waitAudited(t, c, []auditedRequest{
		{userA, "PATCH", "/api/v1/nodes/" + nameB, http.StatusForbidden},
		{userA, "PATCH", "/api/v1/nodes/" + nameA, http.StatusForbidden},
		{userA, "PATCH", "/api/v1/nodes/" + nameB + "/status", http.StatusForbidden},
		{userA, "PATCH", "/api/v1/namespaces/default/pods/" + podB.Name + "/status", http.StatusForbidden},
		{userA, "PATCH", "/api/v1/namespaces/default/pods/web-" + nameA + "/status", http.StatusForbidden},
		{userA, "DELETE", "/api/v1/namespaces/default/pods/" + podB.Name, http.StatusForbidden},
		{userA, "POST", "/api/v1/nodes", http.StatusForbidden},
		{userA, "GET", "/api/v1/namespaces/default/pods/" + podB.Name, http.StatusForbidden},
		{userA, "GET", "/api/v1/pods", http.StatusForbidden},
		{userA, "GET", "/api/v1/pods", http.StatusOK},
		{userA, "POST", "/api/v1/namespaces/default/pods", http.StatusForbidden},
	})
	// Nothing of B changed.
	var after v1.Node
	if err := admin.Get(ctxT(t, 5*time.Second), "nodes", "", nameB, &after); err != nil {
		t.Fatal(err)
	}
	if after.Spec.PodCIDR != nodeB.Spec.PodCIDR || len(after.Spec.Taints) != 0 || after.Labels["disk"] != "" ||
		after.Annotations[v1.AnnotationAgentCertSHA256] != nodeB.Annotations[v1.AnnotationAgentCertSHA256] {
		t.Fatalf("node %s changed: %+v", nameB, after.ObjectMeta)
	}
	var pb v1.Pod
	if err := admin.Get(ctxT(t, 5*time.Second), "pods", "default", podB.Name, &pb); err != nil || pb.Status.PodIP != podB.Status.PodIP || pb.DeletionTimestamp != nil {
		t.Fatalf("pod %s changed: %v %+v", podB.Name, err, pb.Status)
	}

	t.Run("other node's agent", func(t *testing.T) {
		cert, err := tls.LoadX509KeyPair(nodes[0].BootstrappedCertFile(), nodes[0].BootstrappedCertFile())
		if err != nil {
			t.Fatal(err)
		}
		addr := net.JoinHostPort(nodes[1].IP, strconv.Itoa(int(after.Status.DaemonEndpoints.KubeletEndpoint.Port)))
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
			&tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}})
		if err == nil {
			// TLS 1.3: the server checks the client's certificate after the
			// client's handshake ends; its refusal arrives on the first read.
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprintf(conn, "GET /pods/default/%s/log HTTP/1.1\r\nHost: agent\r\n\r\n", podB.Name)
			_, err = io.ReadAll(conn)
		}
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("node %s's certificate reached node %s's agent (err %v), want the TLS handshake refused", nameA, nameB, err)
		}
		// The masters still reach it with theirs.
		rc, err := admin.Logs(ctxT(t, 10*time.Second), "default", podB.Name, client.LogOptions{})
		if err != nil {
			t.Fatalf("logs through the masters: %v", err)
		}
		rc.Close()
	})

	t.Run("image tag in use", func(t *testing.T) {
		var img bytes.Buffer
		if err := ociimage.WriteBusybox(&img, ociimage.BusyboxOptions{Files: map[string][]byte{"bin/evil": []byte("#!/bin/sh\necho pwned\n")}}); err != nil {
			t.Fatal(err)
		}
		_, err := admin.LoadImage(ctxT(t, 60*time.Second), nameB, bytes.NewReader(img.Bytes()))
		if v1.CodeOf(err) != 409 || !strings.Contains(err.Error(), "default/"+podB.Name) {
			t.Fatalf("replacing busybox:1.35 under pod %s: %v, want 409 naming the pod", podB.Name, err)
		}
	})
}
