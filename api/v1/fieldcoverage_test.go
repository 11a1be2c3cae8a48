package v1

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// fieldPath is one JSON field of the pod spec, found by reflection.
type fieldPath struct {
	path   string // spec.containers[*].ports[*].hostPort
	goName string // the Go field's name, HostPort
	leaf   bool   // no JSON fields below it (scalars, maps, quantities)
}

// isLeafType reports whether t is a struct that encodes as one JSON value.
func isLeafType(t reflect.Type) bool {
	return t == reflect.TypeFor[Quantity]() || t == reflect.TypeFor[IntOrString]() || t == reflect.TypeFor[Time]()
}

// podFieldPaths enumerates every JSON field path of PodSpec under "spec".
func podFieldPaths() []fieldPath {
	var out []fieldPath
	walkFields(reflect.TypeFor[PodSpec](), "spec", &out)
	return out
}

func walkFields(t reflect.Type, prefix string, out *[]fieldPath) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if name == "" && f.Anonymous && ft.Kind() == reflect.Struct {
			walkFields(ft, prefix, out) // inline
			continue
		}
		if name == "" {
			name = f.Name
		}
		path := prefix + "." + name
		elem := ft
		if elem.Kind() == reflect.Slice {
			path += "[*]"
			elem = elem.Elem()
			for elem.Kind() == reflect.Pointer {
				elem = elem.Elem()
			}
		}
		if elem.Kind() == reflect.Struct && !isLeafType(elem) {
			*out = append(*out, fieldPath{path: path, goName: f.Name})
			walkFields(elem, path, out)
			continue
		}
		*out = append(*out, fieldPath{path: path, goName: f.Name, leaf: true})
	}
}

// How a pod spec field is accounted for. A field is either refused (the
// API answers 422 naming it when it is set to a value orch does not
// honour) or honoured by a package, whose non-test Go source must then use
// the Go field.
const (
	refused  = "refused"
	byNode   = "node"       // the agent runs it
	bySched  = "sched"      // the scheduler or a controller uses it
	byAPI    = "api/v1"     // validation, defaulting and request arithmetic
	byBoth   = "node+sched" // both use it
	children = "children"   // a struct whose fields are classified one by one
)

// fieldUseEntry says how one path is accounted for.
type fieldUseEntry struct {
	by   string
	want string // refused: the field the 422 names, when not the path itself
}

// fieldUse is the entry of a path in podFieldUse or affinityFieldUse.
func fieldUse(path string) (fieldUseEntry, bool) {
	if e, ok := podFieldUse[path]; ok {
		return e, true
	}
	e, ok := affinityFieldUse[path]
	return e, ok
}

// podFieldUse classifies every JSON path of the pod spec. Paths of init
// containers fall back to those of containers, and the three probes share
// "*Probe" entries, unless an exact entry says otherwise.
var podFieldUse = map[string]fieldUseEntry{
	"spec.volumes[*]":                                                               {by: children},
	"spec.volumes[*].name":                                                          {by: byNode},
	"spec.volumes[*].emptyDir":                                                      {by: byNode},
	"spec.volumes[*].emptyDir.medium":                                               {by: byNode},
	"spec.volumes[*].emptyDir.sizeLimit":                                            {by: byNode},
	"spec.volumes[*].hostPath":                                                      {by: byNode},
	"spec.volumes[*].hostPath.path":                                                 {by: byNode},
	"spec.volumes[*].hostPath.type":                                                 {by: byNode},
	"spec.volumes[*].projected":                                                     {by: byNode},
	"spec.volumes[*].projected.defaultMode":                                         {by: byNode},
	"spec.volumes[*].projected.sources[*]":                                          {by: children},
	"spec.volumes[*].projected.sources[*].configMap":                                {by: byNode},
	"spec.volumes[*].projected.sources[*].configMap.name":                           {by: byNode},
	"spec.volumes[*].projected.sources[*].configMap.optional":                       {by: byNode},
	"spec.volumes[*].projected.sources[*].configMap.items[*]":                       {by: children},
	"spec.volumes[*].projected.sources[*].configMap.items[*].key":                   {by: byNode},
	"spec.volumes[*].projected.sources[*].configMap.items[*].path":                  {by: byNode},
	"spec.volumes[*].projected.sources[*].configMap.items[*].mode":                  {by: byNode},
	"spec.volumes[*].projected.sources[*].downwardAPI":                              {by: byNode},
	"spec.volumes[*].configMap":                                                     {by: byNode},
	"spec.volumes[*].configMap.name":                                                {by: byNode},
	"spec.volumes[*].configMap.defaultMode":                                         {by: byNode},
	"spec.volumes[*].configMap.optional":                                            {by: byNode},
	"spec.volumes[*].configMap.items[*]":                                            {by: children},
	"spec.volumes[*].configMap.items[*].key":                                        {by: byNode},
	"spec.volumes[*].configMap.items[*].path":                                       {by: byNode},
	"spec.volumes[*].configMap.items[*].mode":                                       {by: byNode},
	"spec.volumes[*].secret":                                                        {by: byNode},
	"spec.volumes[*].secret.secretName":                                             {by: byNode},
	"spec.volumes[*].secret.defaultMode":                                            {by: byNode},
	"spec.volumes[*].secret.optional":                                               {by: byNode},
	"spec.volumes[*].secret.items[*]":                                               {by: children},
	"spec.volumes[*].secret.items[*].key":                                           {by: byNode},
	"spec.volumes[*].secret.items[*].path":                                          {by: byNode},
	"spec.volumes[*].secret.items[*].mode":                                          {by: byNode},
	"spec.volumes[*].projected.sources[*].secret":                                   {by: byNode},
	"spec.volumes[*].projected.sources[*].secret.name":                              {by: byNode},
	"spec.volumes[*].projected.sources[*].secret.optional":                          {by: byNode},
	"spec.volumes[*].projected.sources[*].secret.items[*]":                          {by: children},
	"spec.volumes[*].projected.sources[*].secret.items[*].key":                      {by: byNode},
	"spec.volumes[*].projected.sources[*].secret.items[*].path":                     {by: byNode},
	"spec.volumes[*].projected.sources[*].secret.items[*].mode":                     {by: byNode},
	"spec.volumes[*].projected.sources[*].downwardAPI.items[*]":                     {by: children},
	"spec.volumes[*].projected.sources[*].downwardAPI.items[*].path":                {by: byNode},
	"spec.volumes[*].projected.sources[*].downwardAPI.items[*].mode":                {by: byNode},
	"spec.volumes[*].projected.sources[*].downwardAPI.items[*].fieldRef":            {by: byNode},
	"spec.volumes[*].projected.sources[*].downwardAPI.items[*].fieldRef.apiVersion": {by: refused},
	"spec.volumes[*].projected.sources[*].downwardAPI.items[*].fieldRef.fieldPath":  {by: byNode},
	"spec.volumes[*].projected.sources[*].serviceAccountToken":                      {by: byNode},
	"spec.volumes[*].projected.sources[*].serviceAccountToken.audience":             {by: byNode},
	"spec.volumes[*].projected.sources[*].serviceAccountToken.expirationSeconds":    {by: byNode},
	"spec.volumes[*].projected.sources[*].serviceAccountToken.path":                 {by: byNode},
	"spec.securityContext":                                                          {by: children},
	"spec.securityContext.seLinuxOptions":                                           {by: refused},
	"spec.securityContext.runAsUser":                                                {by: byNode},
	"spec.securityContext.runAsGroup":                                               {by: byNode},
	"spec.securityContext.runAsNonRoot":                                             {by: byNode},
	"spec.securityContext.supplementalGroups[*]":                                    {by: byNode},
	"spec.securityContext.fsGroup":                                                  {by: byNode},
	"spec.securityContext.sysctls[*]":                                               {by: children},
	"spec.securityContext.sysctls[*].name":                                          {by: byNode},
	"spec.securityContext.sysctls[*].value":                                         {by: byNode},
	"spec.securityContext.fsGroupChangePolicy":                                      {by: byNode},
	"spec.securityContext.seccompProfile":                                           {by: byNode},
	"spec.securityContext.seccompProfile.type":                                      {by: byNode},
	"spec.securityContext.seccompProfile.localhostProfile":                          {by: byNode},
	"spec.securityContext.appArmorProfile":                                          {by: children},
	"spec.securityContext.appArmorProfile.type":                                     {by: refused},
	"spec.securityContext.appArmorProfile.localhostProfile":                         {by: refused},
	"spec.containers[*].securityContext":                                            {by: byNode},
	"spec.containers[*].securityContext.capabilities":                               {by: byNode},
	"spec.containers[*].securityContext.capabilities.add[*]":                        {by: byNode},
	"spec.containers[*].securityContext.capabilities.drop[*]":                       {by: byNode},
	"spec.containers[*].securityContext.privileged":                                 {by: byNode},
	"spec.containers[*].securityContext.seLinuxOptions":                             {by: refused},
	"spec.containers[*].securityContext.runAsUser":                                  {by: byNode},
	"spec.containers[*].securityContext.runAsGroup":                                 {by: byNode},
	"spec.containers[*].securityContext.runAsNonRoot":                               {by: byNode},
	"spec.containers[*].securityContext.readOnlyRootFilesystem":                     {by: byNode},
	"spec.containers[*].securityContext.allowPrivilegeEscalation":                   {by: byNode},
	"spec.containers[*].securityContext.procMount":                                  {by: byNode},
	"spec.containers[*].securityContext.seccompProfile":                             {by: byNode},
	"spec.containers[*].securityContext.seccompProfile.type":                        {by: byNode},
	"spec.containers[*].securityContext.seccompProfile.localhostProfile":            {by: byNode},
	"spec.containers[*].securityContext.appArmorProfile":                            {by: children},
	"spec.containers[*].securityContext.appArmorProfile.type":                       {by: refused},
	"spec.containers[*].securityContext.appArmorProfile.localhostProfile":           {by: refused},
	"spec.hostPID":                                                               {by: byNode},
	"spec.hostIPC":                                                               {by: byNode},
	"spec.initContainers[*]":                                                     {by: byNode},
	"spec.containers[*]":                                                         {by: byNode},
	"spec.containers[*].name":                                                    {by: byNode},
	"spec.containers[*].image":                                                   {by: byNode},
	"spec.containers[*].command[*]":                                              {by: byNode},
	"spec.containers[*].args[*]":                                                 {by: byNode},
	"spec.containers[*].workingDir":                                              {by: byNode},
	"spec.containers[*].ports[*]":                                                {by: children},
	"spec.containers[*].ports[*].name":                                           {by: byBoth},
	"spec.containers[*].ports[*].hostPort":                                       {by: byNode},
	"spec.containers[*].ports[*].containerPort":                                  {by: byBoth},
	"spec.containers[*].ports[*].protocol":                                       {by: bySched},
	"spec.containers[*].ports[*].hostIP":                                         {by: byNode},
	"spec.containers[*].env[*]":                                                  {by: children},
	"spec.containers[*].env[*].name":                                             {by: byNode},
	"spec.containers[*].env[*].value":                                            {by: byNode},
	"spec.containers[*].env[*].valueFrom":                                        {by: byNode},
	"spec.containers[*].env[*].valueFrom.fieldRef":                               {by: byNode},
	"spec.containers[*].env[*].valueFrom.fieldRef.apiVersion":                    {by: refused},
	"spec.containers[*].env[*].valueFrom.fieldRef.fieldPath":                     {by: byNode},
	"spec.containers[*].env[*].valueFrom.configMapKeyRef":                        {by: byNode},
	"spec.containers[*].env[*].valueFrom.configMapKeyRef.name":                   {by: byNode},
	"spec.containers[*].env[*].valueFrom.configMapKeyRef.key":                    {by: byNode},
	"spec.containers[*].env[*].valueFrom.configMapKeyRef.optional":               {by: byNode},
	"spec.containers[*].envFrom[*]":                                              {by: children},
	"spec.containers[*].envFrom[*].prefix":                                       {by: byNode},
	"spec.containers[*].envFrom[*].configMapRef":                                 {by: byNode},
	"spec.containers[*].envFrom[*].configMapRef.name":                            {by: byNode},
	"spec.containers[*].envFrom[*].configMapRef.optional":                        {by: byNode},
	"spec.containers[*].env[*].valueFrom.secretKeyRef":                           {by: byNode},
	"spec.containers[*].env[*].valueFrom.secretKeyRef.name":                      {by: byNode},
	"spec.containers[*].env[*].valueFrom.secretKeyRef.key":                       {by: byNode},
	"spec.containers[*].env[*].valueFrom.secretKeyRef.optional":                  {by: byNode},
	"spec.containers[*].envFrom[*].secretRef":                                    {by: byNode},
	"spec.containers[*].envFrom[*].secretRef.name":                               {by: byNode},
	"spec.containers[*].envFrom[*].secretRef.optional":                           {by: byNode},
	"spec.containers[*].resources":                                               {by: byNode},
	"spec.containers[*].resources.limits":                                        {by: byNode},
	"spec.containers[*].resources.requests":                                      {by: byAPI},
	"spec.containers[*].volumeMounts[*]":                                         {by: byNode},
	"spec.containers[*].volumeMounts[*].name":                                    {by: byNode},
	"spec.containers[*].volumeMounts[*].readOnly":                                {by: byNode},
	"spec.containers[*].volumeMounts[*].mountPath":                               {by: byNode},
	"spec.containers[*].volumeMounts[*].subPath":                                 {by: byNode},
	"spec.containers[*].*Probe":                                                  {by: byNode},
	"spec.containers[*].*Probe.exec":                                             {by: byNode},
	"spec.containers[*].*Probe.exec.command[*]":                                  {by: byNode},
	"spec.containers[*].*Probe.httpGet":                                          {by: byNode},
	"spec.containers[*].*Probe.httpGet.path":                                     {by: byNode},
	"spec.containers[*].*Probe.httpGet.port":                                     {by: byNode},
	"spec.containers[*].*Probe.httpGet.host":                                     {by: byNode},
	"spec.containers[*].*Probe.httpGet.scheme":                                   {by: byNode},
	"spec.containers[*].*Probe.httpGet.httpHeaders[*]":                           {by: byNode},
	"spec.containers[*].*Probe.httpGet.httpHeaders[*].name":                      {by: byNode},
	"spec.containers[*].*Probe.httpGet.httpHeaders[*].value":                     {by: byNode},
	"spec.containers[*].*Probe.tcpSocket":                                        {by: byNode},
	"spec.containers[*].*Probe.tcpSocket.port":                                   {by: byNode},
	"spec.containers[*].*Probe.tcpSocket.host":                                   {by: byNode},
	"spec.containers[*].*Probe.initialDelaySeconds":                              {by: byNode},
	"spec.containers[*].*Probe.timeoutSeconds":                                   {by: byNode},
	"spec.containers[*].*Probe.periodSeconds":                                    {by: byNode},
	"spec.containers[*].*Probe.successThreshold":                                 {by: byNode},
	"spec.containers[*].*Probe.failureThreshold":                                 {by: byNode},
	"spec.containers[*].*Probe.terminationGracePeriodSeconds":                    {by: byNode},
	"spec.initContainers[*].*Probe":                                              {by: refused},
	"spec.containers[*].terminationMessagePath":                                  {by: refused},
	"spec.containers[*].terminationMessagePolicy":                                {by: refused},
	"spec.containers[*].imagePullPolicy":                                         {by: byNode},
	"spec.containers[*].stdin":                                                   {by: byNode},
	"spec.containers[*].stdinOnce":                                               {by: byNode},
	"spec.containers[*].tty":                                                     {by: byNode},
	"spec.restartPolicy":                                                         {by: byNode},
	"spec.terminationGracePeriodSeconds":                                         {by: byNode},
	"spec.activeDeadlineSeconds":                                                 {by: byNode},
	"spec.dnsPolicy":                                                             {by: byNode},
	"spec.nodeSelector":                                                          {by: bySched},
	"spec.serviceAccountName":                                                    {by: byAPI},
	"spec.serviceAccount":                                                        {by: byAPI},
	"spec.automountServiceAccountToken":                                          {by: byAPI},
	"spec.nodeName":                                                              {by: byBoth},
	"spec.hostNetwork":                                                           {by: byNode},
	"spec.hostname":                                                              {by: byBoth},
	"spec.subdomain":                                                             {by: bySched},
	"spec.schedulerName":                                                         {by: bySched},
	"spec.tolerations[*]":                                                        {by: children},
	"spec.tolerations[*].key":                                                    {by: bySched},
	"spec.tolerations[*].operator":                                               {by: bySched},
	"spec.tolerations[*].value":                                                  {by: bySched},
	"spec.tolerations[*].effect":                                                 {by: bySched},
	"spec.tolerations[*].tolerationSeconds":                                      {by: refused, want: "spec.tolerations[*].effect"},
	"spec.priority":                                                              {by: refused},
	"spec.priorityClassName":                                                     {by: refused},
	"spec.enableServiceLinks":                                                    {by: byNode},
	"spec.imagePullSecrets[*]":                                                   {by: byNode},
	"spec.shareProcessNamespace":                                                 {by: byNode},
	"spec.ephemeralContainers[*]":                                                {by: byNode},
	"spec.ephemeralContainers[*].targetContainerName":                            {by: byNode},
	"spec.ephemeralContainers[*].ports[*]":                                       {by: refused},
	"spec.ephemeralContainers[*].*Probe":                                         {by: refused},
	"spec.ephemeralContainers[*].resources":                                      {by: children},
	"spec.ephemeralContainers[*].resources.limits":                               {by: refused, want: "spec.ephemeralContainers[*].resources"},
	"spec.ephemeralContainers[*].resources.requests":                             {by: refused, want: "spec.ephemeralContainers[*].resources"},
	"spec.volumes[*].projected.sources[*].downwardAPI.items[*].resourceFieldRef": {by: byNode},
	"spec.volumes[*].projected.sources[*].downwardAPI.items[*].resourceFieldRef.containerName": {by: byNode},
	"spec.volumes[*].projected.sources[*].downwardAPI.items[*].resourceFieldRef.resource":      {by: byNode},
	"spec.volumes[*].projected.sources[*].downwardAPI.items[*].resourceFieldRef.divisor":       {by: byNode},
	"spec.volumes[*].downwardAPI":                                         {by: byNode},
	"spec.volumes[*].downwardAPI.defaultMode":                             {by: byNode},
	"spec.volumes[*].downwardAPI.items[*]":                                {by: children},
	"spec.volumes[*].downwardAPI.items[*].path":                           {by: byNode},
	"spec.volumes[*].downwardAPI.items[*].mode":                           {by: byNode},
	"spec.volumes[*].downwardAPI.items[*].fieldRef":                       {by: byNode},
	"spec.volumes[*].downwardAPI.items[*].fieldRef.apiVersion":            {by: refused},
	"spec.volumes[*].downwardAPI.items[*].fieldRef.fieldPath":             {by: byNode},
	"spec.volumes[*].downwardAPI.items[*].resourceFieldRef":               {by: byNode},
	"spec.volumes[*].downwardAPI.items[*].resourceFieldRef.containerName": {by: byNode},
	"spec.volumes[*].downwardAPI.items[*].resourceFieldRef.resource":      {by: byNode},
	"spec.volumes[*].downwardAPI.items[*].resourceFieldRef.divisor":       {by: byNode},
	"spec.containers[*].env[*].valueFrom.resourceFieldRef":                {by: byNode},
	"spec.containers[*].env[*].valueFrom.resourceFieldRef.containerName":  {by: byNode},
	"spec.containers[*].env[*].valueFrom.resourceFieldRef.resource":       {by: byNode},
	"spec.containers[*].env[*].valueFrom.resourceFieldRef.divisor":        {by: byNode},
	"spec.imagePullSecrets[*].name":                                       {by: byNode},
}

// lookupUse finds a path's entry: exact, else with init and ephemeral
// containers read as containers and any probe as "*Probe".
func lookupUse(path string) (string, bool) {
	probe := regexp.MustCompile(`\.(liveness|readiness|startup)Probe`)
	asContainer := strings.Replace(strings.Replace(path, "spec.initContainers[*]", "spec.containers[*]", 1),
		"spec.ephemeralContainers[*]", "spec.containers[*]", 1)
	for _, p := range []string{
		path,
		probe.ReplaceAllString(path, ".*Probe"),
		asContainer,
		probe.ReplaceAllString(asContainer, ".*Probe"),
	} {
		if _, ok := fieldUse(p); ok {
			return p, true
		}
	}
	return "", false
}

// selectorsUsed is every name used after a dot (x.Name) in the non-test Go
// files of the package directory dir.
func selectorsUsed(t *testing.T, dir string) map[string]bool {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files in %s: %v", dir, err)
	}
	used := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatalf("parse %s: %v", f, err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			if s, ok := n.(*ast.SelectorExpr); ok {
				used[s.Sel.Name] = true
			}
			return true
		})
	}
	return used
}

// TestPodFieldsHonouredOrRefused fails when a pod spec field is decodable
// but neither used nor refused: every field the API decodes must be
// honoured by the scheduler or the node, or refused with 422 naming it.
func TestPodFieldsHonouredOrRefused(t *testing.T) {
	pkgs := map[string]map[string]bool{
		byNode:  selectorsUsed(t, "../../node"),
		bySched: selectorsUsed(t, "../../sched"),
		byAPI:   selectorsUsed(t, "."),
	}
	refusedPaths, wholePaths := map[string]bool{}, map[string]bool{}
	for _, f := range podFieldPaths() {
		if isUnder(f.path, refusedPaths) || isUnder(f.path, wholePaths) {
			continue // refused, or honoured, with its parent
		}
		key, ok := lookupUse(f.path)
		if !ok {
			if f.leaf {
				t.Errorf("%s is decoded but neither honoured nor refused: make the node or the scheduler honour it, "+
					"or refuse non-default values in api/v1 validation (field.Forbidden, saying orch does not support it yet); "+
					"then classify it in podFieldUse", f.path)
			}
			continue
		}
		use, _ := fieldUse(key)
		if use.by == bySchedWhole {
			wholePaths[f.path] = true
		}
		t.Run(f.path, func(t *testing.T) {
			switch use.by {
			case children:
			case bySchedWhole:
				if !pkgs[bySched][f.goName] {
					t.Errorf("%s is classified as handed whole to a library by sched, but no Go code there uses .%s", f.path, f.goName)
				}
			case refused:
				refusedPaths[f.path] = true
				p := validPod()
				if err := setPath(reflect.ValueOf(&p.Spec).Elem(), strings.Split(strings.TrimPrefix(f.path, "spec."), ".")); err != nil {
					t.Fatalf("set %s: %v", f.path, err)
				}
				want := f.path
				if use.want != "" {
					want = use.want
				}
				want = strings.ReplaceAll(want, "[*]", "[0]")
				err := Validate(p)
				if CodeOf(err) != 422 {
					t.Fatalf("setting %s: got %v, want 422", f.path, err)
				}
				if !namesField(err, want) {
					t.Errorf("setting %s: the 422 does not name %s (or a parent): %v", f.path, want, err)
				}
				// The pod template of every kind that holds one refuses it too.
				for _, r := range Resources() {
					if !r.HasPodTemplate() {
						continue
					}
					mk, ok := templated[r.Kind]
					if !ok {
						t.Fatalf("%s holds a pod template: add it to templated", r.Kind)
					}
					if err := Validate(mk(validPod().Spec)); err != nil {
						t.Fatalf("a %s with a valid template: %v", r.Kind, err)
					}
					prefix := "spec.template."
					if r.Kind == "CronJob" {
						prefix = "spec.jobTemplate.spec.template."
					}
					if err := Validate(mk(p.Spec)); CodeOf(err) != 422 || !namesField(err, prefix+want) {
						t.Errorf("setting %s in a %s's template: got %v, want a 422 naming %s%s", f.path, r.Kind, err, prefix, want)
					}
				}
			default:
				for _, pkg := range strings.Split(use.by, "+") {
					if !pkgs[pkg][f.goName] {
						t.Errorf("%s is classified as honoured by %s, but no Go code there uses .%s: "+
							"implement it there or refuse it and reclassify it", f.path, pkg, f.goName)
					}
				}
			}
		})
	}
}

// templated makes a valid object of each kind that holds a pod template,
// with spec as its template's pod spec.
var templated = map[string]func(spec PodSpec) Object{
	"ReplicationController": func(spec PodSpec) Object {
		rc := &ReplicationController{ObjectMeta: ObjectMeta{Name: "web", Namespace: "default"},
			Spec: ReplicationControllerSpec{Selector: map[string]string{"app": "web"},
				Template: &PodTemplateSpec{ObjectMeta: ObjectMeta{Labels: map[string]string{"app": "web"}}, Spec: spec}}}
		Default(rc)
		return rc
	},
	"Job": func(spec PodSpec) Object {
		spec.RestartPolicy = RestartNever
		j := &Job{ObjectMeta: ObjectMeta{Name: "web", Namespace: "default", UID: "job-uid"}, Spec: JobSpec{Template: PodTemplateSpec{Spec: spec}}}
		Default(j)
		return j
	},
	"CronJob": func(spec PodSpec) Object {
		spec.RestartPolicy = RestartNever
		cj := &CronJob{ObjectMeta: ObjectMeta{Name: "web", Namespace: "default"}, Spec: CronJobSpec{Schedule: "@hourly",
			JobTemplate: JobTemplateSpec{Spec: JobSpec{Template: PodTemplateSpec{Spec: spec}}}}}
		Default(cj)
		return cj
	},
	"ReplicaSet": func(spec PodSpec) Object {
		rs := &ReplicaSet{ObjectMeta: ObjectMeta{Name: "web", Namespace: "default"},
			Spec: ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				Template: PodTemplateSpec{ObjectMeta: ObjectMeta{Labels: map[string]string{"app": "web"}}, Spec: spec}}}
		Default(rs)
		return rs
	},
	"Deployment": func(spec PodSpec) Object {
		d := &Deployment{ObjectMeta: ObjectMeta{Name: "web", Namespace: "default"},
			Spec: DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				Template: PodTemplateSpec{ObjectMeta: ObjectMeta{Labels: map[string]string{"app": "web"}}, Spec: spec}}}
		Default(d)
		return d
	},
	"DaemonSet": func(spec PodSpec) Object {
		ds := &DaemonSet{ObjectMeta: ObjectMeta{Name: "web", Namespace: "default"},
			Spec: DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				Template: PodTemplateSpec{ObjectMeta: ObjectMeta{Labels: map[string]string{"app": "web"}}, Spec: spec}}}
		Default(ds)
		return ds
	},
	"StatefulSet": func(spec PodSpec) Object {
		ss := &StatefulSet{ObjectMeta: ObjectMeta{Name: "web", Namespace: "default"},
			Spec: StatefulSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				Template: PodTemplateSpec{ObjectMeta: ObjectMeta{Labels: map[string]string{"app": "web"}}, Spec: spec}}}
		Default(ss)
		return ss
	},
}

func isUnder(path string, parents map[string]bool) bool {
	for p := range parents {
		if strings.HasPrefix(path, p+".") || strings.HasPrefix(path, p+"[") {
			return true
		}
	}
	return false
}

// namesField reports whether the Invalid error has a cause on want or on
// one of its parents.
func namesField(err error, want string) bool {
	var se *StatusError
	if !errors.As(err, &se) || se.Status.Details == nil {
		return false
	}
	for _, c := range se.Status.Details.Causes {
		if c.Field == want || strings.HasPrefix(want, c.Field+".") || strings.HasPrefix(want, c.Field+"[") {
			return true
		}
	}
	return false
}

// setPath sets the field at the JSON path (segments like "containers[*]")
// to a non-zero value: pointers are allocated, an empty slice gets one zero
// element, a leaf gets "x-unsupported", true, 1 or one element.
func setPath(v reflect.Value, segs []string) error {
	if len(segs) == 0 {
		return setLeaf(v)
	}
	name, isSlice := strings.CutSuffix(segs[0], "[*]")
	f, ok := fieldByJSON(v, name)
	if !ok {
		return fmt.Errorf("no field %q in %s", name, v.Type())
	}
	for f.Kind() == reflect.Pointer {
		if f.IsNil() {
			f.Set(reflect.New(f.Type().Elem()))
		}
		f = f.Elem()
	}
	if isSlice {
		if f.Len() == 0 {
			f.Set(reflect.Append(f, reflect.Zero(f.Type().Elem())))
		}
		f = f.Index(0)
	}
	return setPath(f, segs[1:])
}

func fieldByJSON(v reflect.Value, name string) (reflect.Value, bool) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if tag == name {
			return v.Field(i), true
		}
		if tag == "" && sf.Anonymous {
			if f, ok := fieldByJSON(v.Field(i), name); ok {
				return f, true
			}
		}
	}
	return reflect.Value{}, false
}

func setLeaf(v reflect.Value) error {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString("x-unsupported")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Struct:
		// a struct refused as a whole (an init container's probe): set
		// is enough
	case reflect.Map:
		// one entry whose key is set as a leaf (a resource list: x-unsupported: 0)
		m := reflect.MakeMap(v.Type())
		k := reflect.New(v.Type().Key()).Elem()
		if err := setLeaf(k); err != nil {
			return err
		}
		m.SetMapIndex(k, reflect.Zero(v.Type().Elem()))
		v.Set(m)
	default:
		return fmt.Errorf("cannot set a %s", v.Type())
	}
	return nil
}
