package v1

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestSetConditionsKeepTransitionTimeWhenStatusHolds(t *testing.T) {
	t0, t1 := NewTime(time.Unix(1000, 0)), NewTime(time.Unix(2000, 0))
	pods := []PodCondition{{Type: PodScheduled, Status: ConditionFalse, LastTransitionTime: t0, Message: "old"}, {Type: PodReady, Status: ConditionTrue}}
	got := SetPodCondition(pods, PodCondition{Type: PodScheduled, Status: ConditionFalse, LastTransitionTime: t1, Message: "new"})
	if len(got) != 2 || got[0].Message != "new" || !got[0].LastTransitionTime.Equal(t0.Time) {
		t.Fatalf("same status: %+v", got[0])
	}
	got = SetPodCondition(pods, PodCondition{Type: PodScheduled, Status: ConditionTrue, LastTransitionTime: t1})
	if !got[0].LastTransitionTime.Equal(t1.Time) || pods[0].Status != ConditionFalse {
		t.Fatalf("changed status: %+v (input modified: %v)", got[0], pods[0].Status != ConditionFalse)
	}
	if got = SetPodCondition(nil, PodCondition{Type: PodReady, Status: ConditionTrue}); len(got) != 1 {
		t.Fatalf("append: %+v", got)
	}
	nodes := []NodeCondition{{Type: NodeReady, Status: ConditionTrue, LastTransitionTime: t0}}
	n := SetNodeCondition(nodes, NodeCondition{Type: NodeReady, Status: ConditionUnknown, LastTransitionTime: t1})
	if n[0].Status != ConditionUnknown || !n[0].LastTransitionTime.Equal(t1.Time) || nodes[0].Status != ConditionTrue {
		t.Fatalf("node: %+v", n[0])
	}
}

func TestAsStatusError(t *testing.T) {
	nf := NewNotFound("pods", "p")
	for _, tc := range []struct {
		name string
		err  error
		code int32
	}{
		{"a status error", nf, 404},
		{"a wrapped status error", fmt.Errorf("get: %w", nf), 404},
		{"a plain error", errors.New("disk on fire"), 500},
	} {
		if got := AsStatusError(tc.err); got.Status.Code != tc.code {
			t.Errorf("%s: code %d, want %d", tc.name, got.Status.Code, tc.code)
		}
	}
}
