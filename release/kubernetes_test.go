package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

const kubernetesExample = "../examples/kubernetes.yaml"

// TestKubernetesExample decodes examples/kubernetes.yaml strictly with the
// Kubernetes API types (an unknown or misspelt field fails), checks its
// timings against clusterd's flags in it, and runs its command line to see
// the probes answered by the paths they name.
func TestKubernetesExample(t *testing.T) {
	text, err := os.ReadFile(kubernetesExample)
	if err != nil {
		t.Fatal(err)
	}
	deploy, service := decodeExample(t, text)
	pod := deploy.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("the pod has %d containers, want clusterd's alone", len(pod.Containers))
	}
	app := pod.Containers[0]
	command := append(append([]string{}, app.Command...), app.Args...)

	killTimeout, err := time.ParseDuration(flagValue(t, command, "--kill-timeout"))
	if err != nil {
		t.Fatalf("--kill-timeout: %v", err)
	}
	if pod.TerminationGracePeriodSeconds == nil {
		t.Fatal("no terminationGracePeriodSeconds: the default (30s) is not stated")
	}
	grace := time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second
	if app.Lifecycle == nil || app.Lifecycle.PreStop == nil || app.Lifecycle.PreStop.Sleep == nil {
		t.Fatal("no preStop sleep: SIGTERM would come before the endpoints are removed")
	}
	preStop := time.Duration(app.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	if grace <= preStop+killTimeout {
		t.Errorf("terminationGracePeriodSeconds %v is not above preStop %v + --kill-timeout %v: the kubelet's SIGKILL cuts the drain short", grace, preStop, killTimeout)
	}

	metricsPort := port(t, flagValue(t, command, "--metrics"))
	listenPort := port(t, flagValue(t, command, "-l"))
	for name, probe := range map[string]*corev1.Probe{"readinessProbe": app.ReadinessProbe, "livenessProbe": app.LivenessProbe} {
		if probe == nil || probe.HTTPGet == nil {
			t.Fatalf("%s is not an httpGet probe", name)
		}
		if p := containerPort(t, app, probe.HTTPGet.Port); p != metricsPort {
			t.Errorf("%s probes port %d, not --metrics' %d", name, p, metricsPort)
		}
	}
	if p := app.ReadinessProbe.HTTPGet.Path; p != "/readyz" {
		t.Errorf("readinessProbe path %s, want /readyz (ready while a worker is)", p)
	}
	if p := app.LivenessProbe.HTTPGet.Path; p != "/healthz" {
		t.Errorf("livenessProbe path %s, want /healthz (the master answers)", p)
	}
	for _, sp := range service.Spec.Ports {
		if p := containerPort(t, app, sp.TargetPort); p != listenPort {
			t.Errorf("the Service sends port %d to %d, not to -l's %d", sp.Port, p, listenPort)
		}
	}
	for k, v := range service.Spec.Selector {
		if deploy.Spec.Template.Labels[k] != v {
			t.Errorf("the Service selects %s=%s, which the pods are not labelled with", k, v)
		}
	}
	probesAnswer(t, command, app.ReadinessProbe.HTTPGet.Path, app.LivenessProbe.HTTPGet.Path)
}

// TestKubernetesDecodeIsStrict: a misspelt field is refused, so the example's
// test above would catch one.
func TestKubernetesDecodeIsStrict(t *testing.T) {
	var d appsv1.Deployment
	err := yaml.UnmarshalStrict([]byte("apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      terminationGracePeriod: 30\n"), &d)
	if err == nil || !strings.Contains(err.Error(), "terminationGracePeriod") {
		t.Fatalf("a misspelt field decoded without error: %v", err)
	}
}

func decodeExample(t *testing.T, text []byte) (*appsv1.Deployment, *corev1.Service) {
	t.Helper()
	var deploy *appsv1.Deployment
	var service *corev1.Service
	for i, doc := range bytes.Split(text, []byte("\n---\n")) {
		var kind struct{ Kind string }
		if err := yaml.Unmarshal(doc, &kind); err != nil {
			t.Fatalf("document %d: %v", i+1, err)
		}
		var err error
		switch kind.Kind {
		case "Deployment":
			deploy = &appsv1.Deployment{}
			err = yaml.UnmarshalStrict(doc, deploy)
		case "Service":
			service = &corev1.Service{}
			err = yaml.UnmarshalStrict(doc, service)
		default:
			t.Fatalf("document %d: kind %q, want a Deployment and a Service", i+1, kind.Kind)
		}
		if err != nil {
			t.Fatalf("document %d (%s): %v", i+1, kind.Kind, err)
		}
	}
	if deploy == nil || service == nil {
		t.Fatal("want a Deployment and a Service")
	}
	return deploy, service
}

// flagValue is the value of clusterd's flag name in command, before "--".
func flagValue(t *testing.T, command []string, name string) string {
	t.Helper()
	for i, a := range command {
		if a == "--" {
			break
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
		if a == name && i+1 < len(command) {
			return command[i+1]
		}
	}
	t.Fatalf("the command gives no %s: %q", name, command)
	return ""
}

func port(t *testing.T, addr string) int32 {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	var n int32
	if _, err := fmt.Sscan(p, &n); err != nil {
		t.Fatalf("port of %s: %v", addr, err)
	}
	return n
}

// containerPort resolves a probe's or Service's port, a number or the name
// of one of the container's ports.
func containerPort(t *testing.T, c corev1.Container, p intstr.IntOrString) int32 {
	t.Helper()
	if p.Type == intstr.Int {
		return p.IntVal
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort
		}
	}
	t.Fatalf("no container port is named %q", p.StrVal)
	return 0
}

// probesAnswer runs the example's command line with this repository's
// clusterd, on loopback ports, and waits for every path to answer 200.
func probesAnswer(t *testing.T, command []string, paths ...string) {
	exe := hostClusterd(t)
	metrics, listen := freePort(t), freePort(t)
	var args []string
	for i := 1; i < len(command); i++ {
		a := command[i]
		switch {
		case a == "/usr/bin/clusterd":
			a = exe
		case i > 0 && command[i-1] == "--metrics":
			a = metrics
		case i > 0 && command[i-1] == "-l":
			a = listen
		}
		args = append(args, a)
	}
	cmd := exec.Command(exe, append([]string{"--control", t.TempDir() + "/control.sock"}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	client := &http.Client{Timeout: 2 * time.Second}
	for _, path := range paths {
		deadline := time.Now().Add(20 * time.Second)
		for {
			resp, err := client.Get("http://" + metrics + path)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
				err = fmt.Errorf("status %s", resp.Status)
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET %s on --metrics: %v\n%s", path, err, out.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
