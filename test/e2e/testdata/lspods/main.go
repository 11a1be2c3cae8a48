// Command lspods is an in-cluster client-go program for the service
// account e2e test: with rest.InClusterConfig (the token, ca.crt and
// KUBERNETES_SERVICE_HOST/PORT the pod gets) it lists the pods of its
// namespace every second and prints "OK <n> <names>" or
// "ERROR <code> <message>". It ignores SIGTERM, so it keeps reporting
// while its pod is being deleted.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
)

func main() {
	signal.Ignore(syscall.SIGTERM)
	cfg, err := rest.InClusterConfig()
	if err != nil {
		fmt.Println("ERROR config", err)
		os.Exit(1)
	}
	cfg.ContentType, cfg.AcceptContentTypes = "application/json", "application/json"
	cl, err := corev1.NewForConfig(cfg)
	if err != nil {
		fmt.Println("ERROR client", err)
		os.Exit(1)
	}
	ns, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
	if err != nil {
		fmt.Println("ERROR namespace", err)
		os.Exit(1)
	}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		pods, err := cl.Pods(string(ns)).List(ctx, metav1.ListOptions{})
		cancel()
		if err != nil {
			code := "?"
			var st apierrors.APIStatus
			if errors.As(err, &st) {
				code = fmt.Sprint(st.Status().Code)
			}
			fmt.Println("ERROR", code, err)
		} else {
			var names []string
			for _, p := range pods.Items {
				names = append(names, p.Name)
			}
			fmt.Println("OK", len(names), strings.Join(names, ","))
		}
		time.Sleep(time.Second)
	}
}
