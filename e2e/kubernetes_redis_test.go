//go:build linux

package e2e

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// k8sDoc is the part of a Kubernetes manifest these tests read.
type k8sDoc struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Data map[string]string `yaml:"data"`
	Spec struct {
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec struct {
				Containers []struct {
					Name string   `yaml:"name"`
					Args []string `yaml:"args"`
				} `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

func k8sDocs(t *testing.T, parts ...string) []k8sDoc {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(append([]string{repoRoot, "examples", "kubernetes"}, parts...)...))
	if err != nil {
		t.Fatal(err)
	}
	var docs []k8sDoc
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	for {
		var d k8sDoc
		if err := dec.Decode(&d); errors.Is(err, io.EOF) {
			return docs
		} else if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, d)
	}
}

// TestKubernetesRedisVariantPatchesOnlyTheStoreIntoTheParentsCaddyfile: the
// variant adds files to the parent's ConfigMap (the wechat store option
// and a metrics site, which the parent's Caddyfile imports) and replaces
// nothing: the parent's silent snsapi_base sign-in stays. The result adapts
// and validates, configures the store as a placeholder, keeps the store
// password out of the output, and serves /metrics on :9180.
func TestKubernetesRedisVariantPatchesOnlyTheStoreIntoTheParentsCaddyfile(t *testing.T) {
	dir := t.TempDir()
	parent := ""
	for _, d := range k8sDocs(t, "configmap.yaml") {
		if d.Kind == "ConfigMap" {
			parent = d.Data["Caddyfile"]
		}
	}
	file := writeFile(t, dir, "Caddyfile", parent)
	added := 0
	for _, d := range k8sDocs(t, "redis", "gateway-store.yaml") {
		if d.Kind != "ConfigMap" {
			continue
		}
		if _, ok := d.Data["Caddyfile"]; ok {
			t.Fatal("the variant replaces the parent's Caddyfile: patch only the store lines")
		}
		for name, content := range d.Data {
			writeFile(t, dir, name, content)
			added++
		}
	}
	if added == 0 {
		t.Fatal("the variant adds no file to the gateway's ConfigMap")
	}
	const secretURL = "redis://:v4lkey-pa55@phone-binding-valkey:6379/0"
	env := []string{"WECHAT_APP_ID=wx0123456789abcdef", "WECHAT_APP_SECRET=0123456789abcdef0123456789abcdef",
		"WECHAT_SESSION_HASH_KEY=" + randomKey(t, 32), "WECHAT_SESSION_BLOCK_KEY=" + randomKey(t, 32), "WECHAT_STORE=" + secretURL,
		"WECHAT_ASSERTION_KEY=" + testAssertionPEM(t)}
	for _, sub := range []string{"adapt", "validate"} {
		out := caddyCheck(t, env, sub, file)
		if strings.Contains(out, "v4lkey-pa55") {
			t.Fatalf("caddy %s shows the store password:\n%s", sub, out)
		}
		if sub != "adapt" {
			continue
		}
		for _, want := range []string{`"wechat":{"store":"{env.WECHAT_STORE}"}`, `"scope":"snsapi_base"`, `":9180"`, `"handler":"metrics"`} {
			if !strings.Contains(out, want) {
				t.Fatalf("adapted JSON lacks %s:\n%s", want, out)
			}
		}
		if strings.Contains(out, "snsapi_userinfo\"") && !strings.Contains(parent, "scope snsapi_userinfo") {
			t.Fatalf("the variant switched the scope to snsapi_userinfo:\n%s", out)
		}
	}
}

// TestKubernetesRedisVariantValkeyKeepsItsDataAndStaysOutOfTheGatewaySelector:
// Valkey keeps an append-only file on a volume and refuses eviction, and no
// label of its pod matches the gateway's selector (so `kubectl exec
// deploy/phone-binding` and the gateway Service never land on it).
func TestKubernetesRedisVariantValkeyKeepsItsDataAndStaysOutOfTheGatewaySelector(t *testing.T) {
	var gatewaySelector map[string]string
	for _, d := range k8sDocs(t, "deployment.yaml") {
		if d.Kind == "Deployment" {
			gatewaySelector = d.Spec.Selector.MatchLabels
		}
	}
	raw, err := os.ReadFile(filepath.Join(repoRoot, "examples", "kubernetes", "service.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var svc struct {
		Spec struct {
			Selector map[string]string `yaml:"selector"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(raw, &svc); err != nil {
		t.Fatal(err)
	}
	serviceSelector := svc.Spec.Selector
	found := false
	for _, d := range k8sDocs(t, "redis", "valkey.yaml") {
		if d.Kind != "Deployment" {
			continue
		}
		found = true
		pod := d.Spec.Template.Metadata.Labels
		if subset(gatewaySelector, pod) || subset(serviceSelector, pod) {
			t.Fatalf("the Valkey pod's labels %v match the gateway's selector %v / %v", pod, gatewaySelector, serviceSelector)
		}
		args := strings.Join(d.Spec.Template.Spec.Containers[0].Args, " ")
		for _, want := range []string{"--appendonly yes", "--maxmemory-policy noeviction"} {
			if !strings.Contains(args, want) {
				t.Fatalf("Valkey args %q lack %q (docs/operations.md)", args, want)
			}
		}
	}
	if !found {
		t.Fatal("no Valkey Deployment in valkey.yaml")
	}
}
