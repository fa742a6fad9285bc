package deploy_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/continuumhq/continuum/internal/config"
)

// docs parses every YAML document of a file.
func docs(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var out []map[string]any
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if d != nil {
			out = append(out, d)
		}
	}
}

// get walks a decoded YAML value by keys and list indexes.
func get(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("at %q: not a mapping (path %v)", k, path)
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("at [%d]: not a list that long (path %v)", k, path)
			}
			v = l[k]
		}
	}
	return v
}

func TestKubernetesManifests(t *testing.T) {
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	byKind := map[string][]map[string]any{}
	var kinds []string
	for _, f := range files {
		for _, d := range docs(t, f) {
			kind, _ := d["kind"].(string)
			if kind == "" || d["apiVersion"] == nil {
				t.Errorf("%s: a document without kind or apiVersion", f)
				continue
			}
			if kind != "Kustomization" && get(t, d, "metadata", "name") == nil {
				t.Errorf("%s: %s without a name", f, kind)
			}
			if ns := get(t, d, "metadata"); ns != nil {
				if _, has := ns.(map[string]any)["namespace"]; has {
					t.Errorf("%s: %s sets a namespace; the manifests are namespace-less", f, kind)
				}
			}
			byKind[kind] = append(byKind[kind], d)
			kinds = append(kinds, kind)
		}
	}
	slices.Sort(kinds)
	want := []string{"ConfigMap", "Deployment", "Deployment", "Kustomization", "PodDisruptionBudget", "Secret", "Service", "Service"}
	if !slices.Equal(kinds, want) {
		t.Errorf("kinds %v, want %v", kinds, want)
	}

	var dep map[string]any
	for _, d := range byKind["Deployment"] {
		if get(t, d, "metadata", "name") == "continuum" {
			dep = d
		}
	}
	if dep == nil {
		t.Fatal("no continuum Deployment")
	}
	checks := []struct {
		path []any
		want any
	}{
		{[]any{"spec", "replicas"}, 3},
		{[]any{"spec", "strategy", "rollingUpdate", "maxUnavailable"}, 0},
		{[]any{"spec", "strategy", "rollingUpdate", "maxSurge"}, 1},
		{[]any{"spec", "template", "spec", "containers", 0, "readinessProbe", "httpGet", "path"}, "/ready"},
		{[]any{"spec", "template", "spec", "containers", 0, "livenessProbe", "httpGet", "path"}, "/health"},
		{[]any{"spec", "template", "spec", "containers", 0, "volumeMounts", 0, "mountPath"}, "/etc/continuum"},
		{[]any{"spec", "template", "spec", "containers", 0, "volumeMounts", 0, "subPath"}, nil},
		{[]any{"spec", "template", "spec", "containers", 0, "lifecycle", "preStop", "sleep", "seconds"}, 10},
		{[]any{"spec", "template", "spec", "securityContext", "runAsNonRoot"}, true},
	}
	for _, c := range checks {
		if got := get(t, dep, c.path...); got != c.want {
			t.Errorf("Deployment %v = %v, want %v", c.path, got, c.want)
		}
	}
	if get(t, dep, "spec", "template", "spec", "topologySpreadConstraints", 0, "maxSkew") == nil {
		t.Errorf("Deployment has no topology spread")
	}
	if g, _ := get(t, dep, "spec", "template", "spec", "terminationGracePeriodSeconds").(int); g < 300 {
		t.Errorf("terminationGracePeriodSeconds %d, want at least the shutdown_timeout (300s)", g)
	}
	if got := get(t, byKind["PodDisruptionBudget"][0], "spec", "minAvailable"); got != 2 {
		t.Errorf("PDB minAvailable %v, want 2", got)
	}
	for _, s := range byKind["Service"] {
		if got := get(t, s, "spec", "type"); got != "ClusterIP" {
			t.Errorf("Service %v type %v, want ClusterIP", get(t, s, "metadata", "name"), got)
		}
	}

	// the embedded Continuum configuration
	raw, _ := get(t, byKind["ConfigMap"][0], "data", "config.yaml").(string)
	checkConfig(t, "ConfigMap config.yaml", parseYAML(t, raw))
}

func parseYAML(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("embedded config: %v", err)
	}
	return m
}

// checkConfig checks the rate_limiting block that the wiring reads.
func checkConfig(t *testing.T, where string, cfg map[string]any) {
	t.Helper()
	rl := get(t, cfg, "rate_limiting")
	if get(t, rl, "storage") != "redis" || get(t, rl, "enabled") != true {
		t.Errorf("%s: rate_limiting is not enabled with storage redis", where)
	}
	for _, k := range []string{"url", "key_prefix", "timeout", "pool_size"} {
		if get(t, rl, "redis", k) == nil {
			t.Errorf("%s: rate_limiting.redis.%s is missing", where, k)
		}
	}
	if get(t, rl, "limits") == nil {
		t.Errorf("%s: rate_limiting.limits is missing", where)
	}
	if get(t, cfg, "server", "bind_address") != "0.0.0.0:8080" {
		t.Errorf("%s: server.bind_address must be 0.0.0.0:8080 in a container", where)
	}
	// The router accepts it as it is: no error, and no warning (a key it
	// does not support would be one).
	data, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	env := func(name string) (string, bool) {
		switch name {
		case "REDIS_URL":
			return "redis://continuum-redis:6379/0", true
		case "TEAM_A_KEY":
			return "sk-team-a-0123456789", true
		}
		return "", false
	}
	c, warns, err := config.Parse(data, where, env)
	if err != nil {
		t.Errorf("%s: the router refuses it:\n%v", where, err)
		return
	}
	for _, w := range warns {
		t.Errorf("%s: warning: %s", where, w)
	}
	if c.RateLimiting.Storage != "redis" || c.RateLimiting.Redis.URL == "" || c.RateLimiting.Redis.Timeout <= 0 {
		t.Errorf("%s: rate_limiting as the router reads it: %+v", where, c.RateLimiting)
	}
}

func TestHelmChart(t *testing.T) {
	chart := docs(t, "helm/continuum/Chart.yaml")[0]
	if chart["apiVersion"] != "v2" || chart["name"] != "continuum" || chart["version"] == nil {
		t.Errorf("Chart.yaml: %v", chart)
	}
	values := docs(t, "helm/continuum/values.yaml")[0]
	for _, path := range [][]any{
		{"replicaCount"}, {"config"}, {"redis", "enabled"}, {"externalRedis", "url"},
		{"autoscaling", "enabled"}, {"autoscaling", "minReplicas"}, {"autoscaling", "maxReplicas"},
		{"podDisruptionBudget", "enabled"}, {"podDisruptionBudget", "minAvailable"}, {"resources"},
	} {
		m := get(t, values, path[:len(path)-1]...).(map[string]any)
		if _, ok := m[path[len(path)-1].(string)]; !ok {
			t.Errorf("values.yaml: %v is missing", path)
		}
	}
	if get(t, values, "replicaCount") != 3 {
		t.Errorf("values.yaml: replicaCount %v, want 3", get(t, values, "replicaCount"))
	}
	cfg, _ := get(t, values, "config").(map[string]any)
	checkConfig(t, "values.yaml config", cfg)

	// templates are Go templates, not YAML: check the kinds they declare
	kindRE := regexp.MustCompile(`(?m)^kind: (\w+)`)
	var kinds []string
	files, _ := filepath.Glob("helm/continuum/templates/*.yaml")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range kindRE.FindAllSubmatch(b, -1) {
			kinds = append(kinds, string(m[1]))
		}
	}
	slices.Sort(kinds)
	want := []string{"ConfigMap", "Deployment", "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Secret", "Service", "Service"}
	if !slices.Equal(kinds, want) {
		t.Errorf("template kinds %v, want %v", kinds, want)
	}
}

func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{
		`ENTRYPOINT ["/continuum","serve","-c","/etc/continuum/config.yaml"]`,
		"CGO_ENABLED=0",
		"FROM gcr.io/distroless/static",
		"USER 65532:65532",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if strings.Count(s, "\nFROM ") < 1 || !strings.HasPrefix(strings.TrimLeft(s[strings.Index(s, "FROM"):], " "), "FROM golang:") {
		t.Errorf("Dockerfile is not a multi-stage build from golang")
	}
}
