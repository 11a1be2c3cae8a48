package main

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/resource"
)

// bytesFlag is a flag holding a size in bytes, written as a Kubernetes
// quantity ("128Mi", "1G", "4096").
type bytesFlag struct {
	n *int64
	// zeroOK takes 0 (a flag whose 0 means none).
	zeroOK bool
}

// newBytesFlag is a flag of at least one byte.
func newBytesFlag(p *int64, def int64) bytesFlag {
	*p = def
	return bytesFlag{n: p}
}

// newBytesOrZeroFlag is a flag of a size or 0.
func newBytesOrZeroFlag(p *int64, def int64) bytesFlag {
	*p = def
	return bytesFlag{n: p, zeroOK: true}
}

// String returns the size as a quantity.
func (f bytesFlag) String() string {
	if f.n == nil {
		return "0"
	}
	return resource.NewQuantity(*f.n, resource.BinarySI).String()
}

// Set parses a quantity of at least one byte (or 0, where the flag takes it).
func (f bytesFlag) Set(s string) error {
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return fmt.Errorf("want a size such as 128Mi: %w", err)
	}
	least := int64(1)
	if f.zeroOK {
		least = 0
	}
	n, ok := q.AsInt64()
	if !ok || n < least {
		return fmt.Errorf("want a whole number of bytes, at least %d, got %s", least, s)
	}
	*f.n = n
	return nil
}

// Type names the flag's type in help.
func (f bytesFlag) Type() string { return "bytes" }
