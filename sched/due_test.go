package sched

import (
	"testing"
	"time"
)

func TestDueSet(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var d dueSet[string]
	if _, ok := d.next(); ok {
		t.Fatal("an empty set has a next time")
	}
	d.set("a", t0.Add(2*time.Second))
	d.set("b", t0.Add(time.Second))
	d.set("c", t0.Add(3*time.Second))
	d.set("c", time.Time{}) // forgotten
	if w, ok := d.wakeAfter(t0); !ok || w != time.Second {
		t.Fatalf("wake %v %v, want 1s", w, ok)
	}
	tests := []struct {
		now  time.Duration
		want []string
	}{
		{0, nil},
		{time.Second, []string{"b"}},
		{time.Second, nil},
		{5 * time.Second, []string{"a"}},
	}
	for _, tt := range tests {
		got := d.take(t0.Add(tt.now))
		if len(got) != len(tt.want) {
			t.Fatalf("take at +%v: %v, want %v", tt.now, got, tt.want)
		}
		for _, k := range tt.want {
			if !got[k] {
				t.Fatalf("take at +%v: %v, want %v", tt.now, got, tt.want)
			}
		}
	}
	d.set("x", t0)
	d.reset()
	if _, ok := d.next(); ok {
		t.Fatal("a reset set has a next time")
	}
}
