package v1

import (
	"reflect"
	"strings"
	"testing"
)

// statefulSetFieldUse classifies every JSON path of a stateful set's spec
// outside its pod template (which TestPodFieldsHonouredOrRefused covers):
// honoured by the controller (sched uses the Go field), by the API, or
// refused with a 422 naming it. A path not listed is covered by its
// nearest listed parent.
var statefulSetFieldUse = map[string]fieldUseEntry{
	"spec.replicas":                                         {by: bySched},
	"spec.selector":                                         {by: byAPI}, // validated; sched uses it through StatefulSetSelector
	"spec.template":                                         {by: bySched},
	"spec.volumeClaimTemplates[*]":                          {by: refused, want: "spec.volumeClaimTemplates"},
	"spec.serviceName":                                      {by: bySched},
	"spec.podManagementPolicy":                              {by: bySched},
	"spec.updateStrategy":                                   {by: bySched},
	"spec.updateStrategy.type":                              {by: bySched},
	"spec.updateStrategy.rollingUpdate":                     {by: bySched},
	"spec.updateStrategy.rollingUpdate.partition":           {by: bySched},
	"spec.updateStrategy.rollingUpdate.maxUnavailable":      {by: refused},
	"spec.revisionHistoryLimit":                             {by: bySched},
	"spec.minReadySeconds":                                  {by: bySched},
	"spec.persistentVolumeClaimRetentionPolicy":             {by: children},
	"spec.persistentVolumeClaimRetentionPolicy.whenDeleted": {by: refused},
	"spec.persistentVolumeClaimRetentionPolicy.whenScaled":  {by: refused},
	"spec.ordinals":                                         {by: bySched},
	"spec.ordinals.start":                                   {by: bySched},
}

// TestStatefulSetFieldsHonouredOrRefused fails when a stateful set spec
// field is decoded but neither honoured nor refused.
func TestStatefulSetFieldsHonouredOrRefused(t *testing.T) {
	pkgs := map[string]map[string]bool{bySched: selectorsUsed(t, "../../sched"), byAPI: selectorsUsed(t, ".")}
	var paths []fieldPath
	walkFields(reflect.TypeFor[StatefulSetSpec](), "spec", &paths)
	for _, f := range paths {
		if strings.HasPrefix(f.path, "spec.template.") || strings.HasPrefix(f.path, "spec.selector.") ||
			strings.HasPrefix(f.path, "spec.volumeClaimTemplates[*].") {
			continue // the template's pod spec, the selector's parts, a refused claim's parts
		}
		use, ok := statefulSetFieldUse[f.path]
		if !ok {
			t.Errorf("%s is decoded but not classified in statefulSetFieldUse", f.path)
			continue
		}
		t.Run(f.path, func(t *testing.T) {
			switch use.by {
			case children:
			case refused:
				ss := validSTS()
				if err := setPath(reflect.ValueOf(&ss.Spec).Elem(), strings.Split(strings.TrimPrefix(f.path, "spec."), ".")); err != nil {
					t.Fatalf("set %s: %v", f.path, err)
				}
				want := f.path
				if use.want != "" {
					want = use.want
				}
				if err := Validate(ss); CodeOf(err) != 422 || !namesField(err, want) {
					t.Errorf("setting %s: got %v, want a 422 naming %s", f.path, err, want)
				}
			default:
				if !pkgs[use.by][f.goName] {
					t.Errorf("%s is classified as honoured by %s, but no Go code there uses .%s", f.path, use.by, f.goName)
				}
			}
		})
	}
}
