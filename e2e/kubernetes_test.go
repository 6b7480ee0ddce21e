//go:build linux

package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxgate/caddy-wechat-auth/internal/testnet"
	"gopkg.in/yaml.v3"
)

// The parts of the Kubernetes objects the checks look at.
type k8sObject struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Spec       yaml.Node         `yaml:"spec"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
	Type       string            `yaml:"type"`

	file string
}

type k8sDeploymentSpec struct {
	Replicas *int `yaml:"replicas"`
	Selector struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	} `yaml:"selector"`
	Template struct {
		Metadata struct {
			Labels map[string]string `yaml:"labels"`
		} `yaml:"metadata"`
		Spec struct {
			SecurityContext *k8sSecurityContext `yaml:"securityContext"`
			Containers      []k8sContainer      `yaml:"containers"`
			Volumes         []struct {
				Name      string `yaml:"name"`
				ConfigMap *struct {
					Name string `yaml:"name"`
				} `yaml:"configMap"`
				Secret *struct {
					SecretName string `yaml:"secretName"`
				} `yaml:"secret"`
			} `yaml:"volumes"`
		} `yaml:"spec"`
	} `yaml:"template"`
}

type k8sSecurityContext struct {
	RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
	RunAsUser                *int  `yaml:"runAsUser"`
	AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
}

type k8sProbe struct {
	HTTPGet *struct {
		Path string    `yaml:"path"`
		Port yaml.Node `yaml:"port"`
	} `yaml:"httpGet"`
}

type k8sContainer struct {
	Name  string   `yaml:"name"`
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			SecretKeyRef *struct {
				Name string `yaml:"name"`
				Key  string `yaml:"key"`
			} `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	ReadinessProbe *k8sProbe `yaml:"readinessProbe"`
	LivenessProbe  *k8sProbe `yaml:"livenessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext *k8sSecurityContext `yaml:"securityContext"`
	VolumeMounts    []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type k8sServiceSpec struct {
	Selector map[string]string `yaml:"selector"`
	Ports    []struct {
		Name       string    `yaml:"name"`
		Port       int       `yaml:"port"`
		TargetPort yaml.Node `yaml:"targetPort"`
	} `yaml:"ports"`
}

// k8sManifests parses every YAML document of examples/kubernetes.
func k8sManifests(t *testing.T) map[string]*k8sObject {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, "examples", "kubernetes", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in examples/kubernetes: %v", err)
	}
	byKind := map[string]*k8sObject{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		for i := 0; ; i++ {
			var o k8sObject
			err := dec.Decode(&o)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s document %d: %v", filepath.Base(f), i, err)
			}
			o.file = filepath.Base(f)
			if o.APIVersion == "" || o.Kind == "" || o.Metadata.Name == "" {
				t.Fatalf("%s document %d: apiVersion, kind and metadata.name are required", o.file, i)
			}
			if prev, dup := byKind[o.Kind]; dup {
				t.Fatalf("two %s objects (%s, %s): the checks expect one of each", o.Kind, prev.file, o.file)
			}
			byKind[o.Kind] = &o
		}
	}
	wantAPI := map[string]string{"Deployment": "apps/v1", "Service": "v1", "Secret": "v1", "ConfigMap": "v1"}
	for kind, api := range wantAPI {
		o, ok := byKind[kind]
		if !ok {
			t.Fatalf("no %s among the manifests", kind)
		}
		if o.APIVersion != api {
			t.Errorf("%s apiVersion %q, want %q", kind, o.APIVersion, api)
		}
	}
	return byKind
}

func decodeSpec[T any](t *testing.T, o *k8sObject) T {
	t.Helper()
	var spec T
	if err := o.Spec.Decode(&spec); err != nil {
		t.Fatalf("%s spec: %v", o.Kind, err)
	}
	return spec
}

func subset(sub, super map[string]string) bool {
	if len(sub) == 0 {
		return false
	}
	for k, v := range sub {
		if super[k] != v {
			return false
		}
	}
	return true
}

// containerPort resolves a probe or Service port (a name or a number) to a
// declared container port.
func containerPort(c k8sContainer, port yaml.Node) (int, bool) {
	for _, p := range c.Ports {
		if p.Name != "" && p.Name == port.Value || strconv.Itoa(p.ContainerPort) == port.Value {
			return p.ContainerPort, true
		}
	}
	return 0, false
}

func findContainer(t *testing.T, d k8sDeploymentSpec, name string) k8sContainer {
	t.Helper()
	for _, c := range d.Template.Spec.Containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no container %q in the Deployment", name)
	return k8sContainer{}
}

var pinnedImage = regexp.MustCompile(`^[a-z0-9.\-/:]+:[0-9][A-Za-z0-9.\-_]*(@sha256:[0-9a-f]{64})?$|@sha256:[0-9a-f]{64}$`)

func TestKubernetesManifestsAreConsistent(t *testing.T) {
	objs := k8sManifests(t)
	dep := decodeSpec[k8sDeploymentSpec](t, objs["Deployment"])
	svc := decodeSpec[k8sServiceSpec](t, objs["Service"])
	secret, cm := objs["Secret"], objs["ConfigMap"]
	podLabels := dep.Template.Metadata.Labels

	t.Run("several replicas", func(t *testing.T) {
		if dep.Replicas == nil || *dep.Replicas < 2 {
			t.Errorf("replicas %v: the example shows that stateless sessions scale out", dep.Replicas)
		}
	})
	t.Run("selectors match the pod labels", func(t *testing.T) {
		if !subset(dep.Selector.MatchLabels, podLabels) {
			t.Errorf("Deployment selector %v does not select pod labels %v", dep.Selector.MatchLabels, podLabels)
		}
		if !subset(svc.Selector, podLabels) {
			t.Errorf("Service selector %v does not select pod labels %v", svc.Selector, podLabels)
		}
	})

	gw := findContainer(t, dep, "gateway")
	findContainer(t, dep, "app")

	t.Run("Service targets the gateway's port", func(t *testing.T) {
		if len(svc.Ports) == 0 {
			t.Fatal("Service has no ports")
		}
		for _, p := range svc.Ports {
			if _, ok := containerPort(gw, p.TargetPort); !ok {
				t.Errorf("Service port %s targetPort %q is no port of the gateway container", p.Name, p.TargetPort.Value)
			}
		}
	})
	t.Run("gateway probes hit its declared port", func(t *testing.T) {
		for name, p := range map[string]*k8sProbe{"readinessProbe": gw.ReadinessProbe, "livenessProbe": gw.LivenessProbe} {
			if p == nil || p.HTTPGet == nil || p.HTTPGet.Path == "" {
				t.Errorf("gateway %s: want an httpGet probe on a health path", name)
				continue
			}
			if _, ok := containerPort(gw, p.HTTPGet.Port); !ok {
				t.Errorf("gateway %s port %q is no declared container port", name, p.HTTPGet.Port.Value)
			}
		}
	})
	t.Run("every container is limited, pinned and non-root", func(t *testing.T) {
		podNonRoot := dep.Template.Spec.SecurityContext != nil && dep.Template.Spec.SecurityContext.RunAsNonRoot != nil &&
			*dep.Template.Spec.SecurityContext.RunAsNonRoot
		if sc := dep.Template.Spec.SecurityContext; sc != nil && sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			t.Error("pod runAsUser 0")
		}
		for _, c := range dep.Template.Spec.Containers {
			for _, r := range []string{"cpu", "memory"} {
				if c.Resources.Requests[r] == "" || c.Resources.Limits[r] == "" {
					t.Errorf("container %s: want requests and limits for %s", c.Name, r)
				}
			}
			sc := c.SecurityContext
			nonRoot := podNonRoot
			if sc != nil && sc.RunAsNonRoot != nil {
				nonRoot = *sc.RunAsNonRoot
			}
			if !nonRoot {
				t.Errorf("container %s: runAsNonRoot is not true", c.Name)
			}
			if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				t.Errorf("container %s: allowPrivilegeEscalation must be false", c.Name)
			}
			if !pinnedImage.MatchString(c.Image) {
				t.Errorf("container %s: image %q is not pinned to a version", c.Name, c.Image)
			}
		}
	})
	t.Run("referenced secret keys exist in the example Secret", func(t *testing.T) {
		keys := map[string]bool{}
		for k := range secret.StringData {
			keys[k] = true
		}
		for k := range secret.Data {
			keys[k] = true
		}
		refs := 0
		for _, c := range dep.Template.Spec.Containers {
			for _, e := range c.Env {
				if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
					continue
				}
				refs++
				ref := e.ValueFrom.SecretKeyRef
				if ref.Name != secret.Metadata.Name || !keys[ref.Key] {
					t.Errorf("container %s env %s: secret %s key %s is not in %s", c.Name, e.Name, ref.Name, ref.Key, secret.file)
				}
			}
		}
		if refs == 0 {
			t.Error("no env var comes from the Secret")
		}
	})
	t.Run("the example Secret holds only placeholders", func(t *testing.T) {
		raw, _ := os.ReadFile(filepath.Join(repoRoot, "examples", "kubernetes", secret.file))
		if !strings.Contains(string(raw), "EXAMPLE") {
			t.Errorf("%s does not say it is an example", secret.file)
		}
		for k, v := range secret.StringData {
			if !strings.Contains(v, "REPLACE_ME") {
				t.Errorf("%s %s = %q: want a REPLACE_ME placeholder", secret.file, k, v)
			}
		}
		if len(secret.Data) != 0 {
			t.Errorf("%s: use stringData placeholders, not data", secret.file)
		}
	})
	t.Run("the ConfigMap is mounted where the gateway reads its Caddyfile", func(t *testing.T) {
		if cm.Data["Caddyfile"] == "" {
			t.Fatal("ConfigMap has no Caddyfile key")
		}
		vol := ""
		for _, v := range dep.Template.Spec.Volumes {
			if v.ConfigMap != nil && v.ConfigMap.Name == cm.Metadata.Name {
				vol = v.Name
			}
		}
		mounted := false
		for _, m := range gw.VolumeMounts {
			if m.Name == vol && m.MountPath == "/etc/caddy" {
				mounted = true
			}
		}
		if vol == "" || !mounted {
			t.Errorf("ConfigMap %s is not mounted at /etc/caddy in the gateway", cm.Metadata.Name)
		}
		if i := slices.Index(gw.Args, "--config"); i < 0 || i+1 >= len(gw.Args) || gw.Args[i+1] != "/etc/caddy/Caddyfile" {
			t.Errorf("gateway args %v: want --config /etc/caddy/Caddyfile", gw.Args)
		}
		port, _ := containerPort(gw, yaml.Node{Value: "http"})
		if !strings.Contains(cm.Data["Caddyfile"], fmt.Sprintf(":%d {", port)) {
			t.Errorf("the Caddyfile does not listen on the container port %d", port)
		}
	})
}

// gatewayContainerEnv is the gateway container's environment as Kubernetes
// would build it, with made-up but valid values for the Secret's keys.
func gatewayContainerEnv(t *testing.T, gw k8sContainer) (env []string, secrets []string) {
	t.Helper()
	for _, e := range gw.Env {
		v := e.Value
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			switch {
			case e.Name == "WECHAT_ASSERTION_KEY":
				v = testAssertionPEM(t)
			case strings.Contains(e.Name, "KEY"):
				v = randomKey(t, 32)
			default:
				v = "s3cr3t" + strconv.FormatInt(time.Now().UnixNano(), 36)
			}
			secrets = append(secrets, v)
		}
		if e.Name == "XDG_DATA_HOME" || e.Name == "XDG_CONFIG_HOME" {
			continue // caddyEnv gives each test its own
		}
		env = append(env, e.Name+"="+v)
	}
	return env, secrets
}

func TestKubernetesGatewayCaddyfileAdaptsAndValidatesWithoutLeakingSecrets(t *testing.T) {
	objs := k8sManifests(t)
	gw := findContainer(t, decodeSpec[k8sDeploymentSpec](t, objs["Deployment"]), "gateway")
	env, secrets := gatewayContainerEnv(t, gw)
	file := writeFile(t, t.TempDir(), "Caddyfile", objs["ConfigMap"].Data["Caddyfile"])

	for _, sub := range []string{"adapt", "validate"} {
		out := caddyCheck(t, env, sub, file)
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("caddy %s output contains a secret from the environment:\n%s", sub, out)
			}
		}
	}
}

func TestKubernetesGatewayServesProbesAndProtectsTheApp(t *testing.T) {
	objs := k8sManifests(t)
	dep := decodeSpec[k8sDeploymentSpec](t, objs["Deployment"])
	gw := findContainer(t, dep, "gateway")
	env, _ := gatewayContainerEnv(t, gw)
	app := startEchoUpstream(t)
	port := testnet.Port(t)
	cfgPort, _ := containerPort(gw, yaml.Node{Value: "http"})
	caddyfile := replaceExactly(t, objs["ConfigMap"].Data["Caddyfile"],
		"admin off", "admin off\n\tdefault_bind 127.0.0.1",
		fmt.Sprintf(":%d {", cfgPort), fmt.Sprintf(":%d {", port),
	)
	caddyfile = strings.ReplaceAll(caddyfile, "127.0.0.1:8081", strings.TrimPrefix(app.URL, "http://"))
	site := fmt.Sprintf("http://127.0.0.1:%d", port)
	startCaddy(t, "gateway", writeFile(t, t.TempDir(), "Caddyfile", caddyfile), env, site+"/healthz")

	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path, ua string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, site+path, nil)
		req.Header.Set("User-Agent", ua)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	// The kubelet (not WeChat) gets straight answers from both probes; the
	// readiness probe reaches the app.
	for name, p := range map[string]*k8sProbe{"readiness": gw.ReadinessProbe, "liveness": gw.LivenessProbe} {
		resp := get(p.HTTPGet.Path, "kube-probe/1.31")
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s probe %s: %d, want 200", name, p.HTTPGet.Path, resp.StatusCode)
		}
	}
	if resp := get(gw.ReadinessProbe.HTTPGet.Path, "kube-probe/1.31"); resp.Header.Get("X-Echo-Upstream") != "yes" {
		t.Errorf("readiness probe %s does not reach the app", gw.ReadinessProbe.HTTPGet.Path)
	}
	// Everything else is behind wechat_auth: WeChat's browser is sent to authorize.
	resp := get("/bind", wechatUA)
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, "https://open.weixin.qq.com/connect/oauth2/authorize?") {
		t.Errorf("protected path: %d Location %q, want 302 to WeChat's authorize page", resp.StatusCode, loc)
	}
}
