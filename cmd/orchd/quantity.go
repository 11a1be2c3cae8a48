package main

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/resource"
)

// bytesFlag is a flag holding a size in bytes, written as a Kubernetes
// quantity ("128Mi", "1G", "4096").
type bytesFlag struct{ n *int64 }

func newBytesFlag(p *int64, def int64) bytesFlag {
	*p = def
	return bytesFlag{n: p}
}

// String returns the size as a quantity.
func (f bytesFlag) String() string {
	if f.n == nil {
		return "0"
	}
	return resource.NewQuantity(*f.n, resource.BinarySI).String()
}

// Set parses a quantity of at least one byte.
func (f bytesFlag) Set(s string) error {
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return fmt.Errorf("want a size such as 128Mi: %w", err)
	}
	n, ok := q.AsInt64()
	if !ok || n < 1 {
		return fmt.Errorf("want a whole number of bytes, at least 1, got %s", s)
	}
	*f.n = n
	return nil
}

// Type names the flag's type in help.
func (f bytesFlag) Type() string { return "bytes" }
