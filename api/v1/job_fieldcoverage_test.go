package v1

import (
	"reflect"
	"strings"
	"testing"
)

// jobFieldUse classifies every JSON path of the Job spec outside its pod
// template (whose pod spec is the pod's, checked by
// TestPodFieldsHonouredOrRefused) and its selector (a label selector).
var jobFieldUse = map[string]string{
	"spec.parallelism":                                         bySched,
	"spec.completions":                                         bySched,
	"spec.activeDeadlineSeconds":                               bySched,
	"spec.podFailurePolicy":                                    bySched,
	"spec.podFailurePolicy.rules[*]":                           children,
	"spec.podFailurePolicy.rules[*].action":                    bySched,
	"spec.podFailurePolicy.rules[*].onExitCodes":               bySched,
	"spec.podFailurePolicy.rules[*].onExitCodes.containerName": bySched,
	"spec.podFailurePolicy.rules[*].onExitCodes.operator":      bySched,
	"spec.podFailurePolicy.rules[*].onExitCodes.values[*]":     bySched,
	"spec.podFailurePolicy.rules[*].onPodConditions[*]":        bySched,
	"spec.podFailurePolicy.rules[*].onPodConditions[*].type":   byAPI,
	"spec.podFailurePolicy.rules[*].onPodConditions[*].status": bySched,
	"spec.successPolicy":                                       refused,
	"spec.backoffLimit":                                        bySched,
	"spec.backoffLimitPerIndex":                                refused,
	"spec.maxFailedIndexes":                                    refused,
	"spec.selector":                                            bySched,
	"spec.manualSelector":                                      byAPI,
	"spec.template":                                            children,
	"spec.ttlSecondsAfterFinished":                             bySched,
	"spec.completionMode":                                      byAPI, // v1.JobIndexed, which the controller asks
	"spec.suspend":                                             bySched,
	"spec.podReplacementPolicy":                                bySched,
	"spec.managedBy":                                           bySched,
}

// TestJobFieldsHonouredOrRefused fails when a Job spec field is decodable
// but neither used by the job controller nor refused with 422 naming it.
func TestJobFieldsHonouredOrRefused(t *testing.T) {
	var paths []fieldPath
	walkFields(reflect.TypeFor[JobSpec](), "spec", &paths)
	pkgs := map[string]map[string]bool{bySched: selectorsUsed(t, "../../sched"), byAPI: selectorsUsed(t, ".")}
	refusedPaths := map[string]bool{}
	for _, f := range paths {
		if strings.HasPrefix(f.path, "spec.template.") || strings.HasPrefix(f.path, "spec.selector.") || isUnder(f.path, refusedPaths) {
			continue
		}
		use, ok := jobFieldUse[f.path]
		if !ok {
			t.Errorf("%s is decoded but neither honoured nor refused: classify it in jobFieldUse", f.path)
			continue
		}
		t.Run(f.path, func(t *testing.T) {
			switch use {
			case children:
			case refused:
				refusedPaths[f.path] = true
				j := newTestJob(nil)
				if err := setPath(reflect.ValueOf(&j.Spec).Elem(), strings.Split(strings.TrimPrefix(f.path, "spec."), ".")); err != nil {
					t.Fatalf("set %s: %v", f.path, err)
				}
				err := Validate(j)
				if CodeOf(err) != 422 || !namesField(err, strings.ReplaceAll(f.path, "[*]", "[0]")) {
					t.Fatalf("setting %s: got %v, want 422 naming it", f.path, err)
				}
			default:
				if !pkgs[use][f.goName] {
					t.Errorf("%s is classified as honoured by %s, but no Go code there uses .%s", f.path, use, f.goName)
				}
			}
		})
	}
}

// cronJobFieldUse classifies the CronJob spec's own fields (its Job
// template's spec is a Job spec, classified above).
var cronJobFieldUse = map[string]string{
	"spec.schedule":                   byAPI, // v1.CronSchedule, which the controller asks
	"spec.timeZone":                   byAPI,
	"spec.startingDeadlineSeconds":    bySched,
	"spec.concurrencyPolicy":          bySched,
	"spec.suspend":                    bySched,
	"spec.jobTemplate":                bySched,
	"spec.successfulJobsHistoryLimit": bySched,
	"spec.failedJobsHistoryLimit":     bySched,
}

// TestCronJobFieldsHonoured fails when a CronJob spec field is decodable
// but not used.
func TestCronJobFieldsHonoured(t *testing.T) {
	var paths []fieldPath
	walkFields(reflect.TypeFor[CronJobSpec](), "spec", &paths)
	pkgs := map[string]map[string]bool{bySched: selectorsUsed(t, "../../sched"), byAPI: selectorsUsed(t, ".")}
	for _, f := range paths {
		if strings.HasPrefix(f.path, "spec.jobTemplate.") {
			continue
		}
		use, ok := cronJobFieldUse[f.path]
		if !ok {
			t.Errorf("%s is decoded but not classified in cronJobFieldUse", f.path)
			continue
		}
		if !pkgs[use][f.goName] {
			t.Errorf("%s is classified as honoured by %s, but no Go code there uses .%s", f.path, use, f.goName)
		}
	}
}
