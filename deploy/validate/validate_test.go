package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

const chartDir = "../helm/rerank-gateway"

func gatewayEnv(t *testing.T) envNames {
	t.Helper()
	env, err := readEnvNames("../../src")
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func loadSets(t *testing.T) map[string]valuesSet {
	t.Helper()
	sets, err := valuesSets(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]valuesSet{}
	for _, set := range sets {
		byName[set.Name] = set
	}
	return byName
}

// render renders a values set of the chart, failing the test on an error.
func render(t *testing.T, set string) []manifest {
	t.Helper()
	manifests, err := renderChart(chartDir, loadSets(t)[set].Values)
	if err != nil {
		t.Fatal(err)
	}
	return manifests
}

func wantProblem(t *testing.T, problems []string, want string) {
	t.Helper()
	for _, problem := range problems {
		if strings.Contains(problem, want) {
			return
		}
	}
	t.Fatalf("no problem mentions %q; got %q", want, problems)
}

func TestEveryValuesSetPasses(t *testing.T) {
	env := gatewayEnv(t)
	sets, err := valuesSets(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(sets) < 5 {
		t.Fatalf("expected the defaults and at least four ci/ values sets, got %d", len(sets))
	}
	for _, set := range sets {
		t.Run(set.Name, func(t *testing.T) {
			objects, problems := validate(chartDir, set.Values, env)
			if len(problems) > 0 {
				t.Fatalf("problems:\n%s", strings.Join(problems, "\n"))
			}
			if len(objects) < 5 {
				t.Fatalf("only %d objects rendered", len(objects))
			}
		})
	}
}

// A field planted into one rendered manifest must be refused by strict decoding.
func TestStrictDecodingRefusesPlantedFields(t *testing.T) {
	cases := []struct {
		name, source, old, new, want string
	}{
		{"unknown field", "gateway-deployment.yaml", "imagePullPolicy:", "imagePullPolicyy:", `unknown field "spec.template.spec.containers[0].imagePullPolicyy"`},
		{"field in the wrong case", "triton-service.yaml", "clusterIP:", "clusterIp:", `unknown field "spec.clusterIp"`},
		{"duplicate field", "gateway-hpa.yaml", "  minReplicas: 2\n", "  minReplicas: 2\n  minReplicas: 3\n", "minReplicas"},
		{"malformed quantity", "triton-deployment.yaml", "memory: 32Gi", "memory: 32GB-ish", "quantities must match"},
		{"string for an integer", "gateway-service.yaml", "port: 50051,", `port: "50051",`, "cannot unmarshal string"},
		{"unknown kind", "pod-disruption-budgets.yaml", "kind: PodDisruptionBudget", "kind: PodDisruptionBudgt", "does not know"},
		{"retired apiVersion", "gateway-hpa.yaml", "autoscaling/v2", "autoscaling/v2beta1", "does not know"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			manifests := render(t, "defaults")
			planted := false
			for i, m := range manifests {
				if m.Source == c.source && strings.Contains(m.YAML, c.old) && !planted {
					manifests[i].YAML = strings.Replace(m.YAML, c.old, c.new, 1)
					planted = true
				}
			}
			if !planted {
				t.Fatalf("%q is not in %s", c.old, c.source)
			}
			_, problems := decodeAll(manifests)
			wantProblem(t, problems, c.want)
		})
	}
}

// checkChanged renders and decodes a values set, lets change break its objects, and returns what check finds.
func checkChanged(t *testing.T, set string, change func(objects []object, gateway, triton *appsv1.Deployment)) []string {
	t.Helper()
	objects, problems := decodeAll(render(t, set))
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	var deployments []*appsv1.Deployment
	for _, o := range objects {
		if d, ok := o.Value.(*appsv1.Deployment); ok {
			deployments = append(deployments, d)
		}
	}
	change(objects, deploymentOf(deployments, "gateway"), deploymentOf(deployments, "triton"))
	return check(objects, gatewayEnv(t))
}

func firstOf[T any](objects []object, keep func(T) bool) T {
	for _, o := range objects {
		if v, ok := o.Value.(T); ok && keep(v) {
			return v
		}
	}
	panic("no such object")
}

func tritonPolicy(objects []object) *networkingv1.NetworkPolicy {
	return firstOf(objects, func(p *networkingv1.NetworkPolicy) bool { return strings.HasSuffix(p.Name, "-triton") })
}

// Each rule of checks.go fails on a deployment that breaks it.
func TestChecksFailOnBrokenDeployments(t *testing.T) {
	cases := []struct {
		name, set, want string
		change          func(objects []object, gateway, triton *appsv1.Deployment)
	}{
		{"no cpu request", "defaults", "container gateway: no cpu request", func(_ []object, g, _ *appsv1.Deployment) {
			delete(g.Spec.Template.Spec.Containers[0].Resources.Requests, corev1.ResourceCPU)
		}},
		{"no liveness probe", "defaults", "needs both a readiness and a liveness probe", func(_ []object, _, tr *appsv1.Deployment) {
			tr.Spec.Template.Spec.Containers[0].LivenessProbe = nil
		}},
		{"writable root", "defaults", "readOnlyRootFilesystem is not true", func(_ []object, g, _ *appsv1.Deployment) {
			off := false
			g.Spec.Template.Spec.Containers[0].SecurityContext.ReadOnlyRootFilesystem = &off
		}},
		{"root allowed", "defaults", "runAsNonRoot is not true", func(_ []object, _, tr *appsv1.Deployment) {
			tr.Spec.Template.Spec.SecurityContext.RunAsNonRoot = nil
			tr.Spec.Template.Spec.Containers[0].SecurityContext.RunAsNonRoot = nil
		}},
		{"capabilities kept", "defaults", "capabilities do not drop ALL", func(_ []object, g, _ *appsv1.Deployment) {
			g.Spec.Template.Spec.Containers[0].SecurityContext.Capabilities.Drop = nil
		}},
		{"no GPU", "defaults", "no nvidia.com/gpu limit", func(_ []object, _, tr *appsv1.Deployment) {
			delete(tr.Spec.Template.Spec.Containers[0].Resources.Limits, "nvidia.com/gpu")
		}},
		{"misspelt variable", "defaults", "RERANK_LISTN is not a variable the gateway reads", func(_ []object, g, _ *appsv1.Deployment) {
			g.Spec.Template.Spec.Containers[0].Env[0].Name = "RERANK_LISTN"
		}},
		{"key file outside its Secret", "tls-keys-tracing", "RERANK_TLS_KEY_FILE=/etc/rerank/tls.key is not in a read-only Secret volume", func(_ []object, g, _ *appsv1.Deployment) {
			for i, v := range g.Spec.Template.Spec.Containers[0].Env {
				if v.Name == "RERANK_TLS_KEY_FILE" {
					g.Spec.Template.Spec.Containers[0].Env[i].Value = "/etc/rerank/tls.key"
				}
			}
		}},
		{"certificate and key that differ", "tls-keys-tracing", "tls.crt and tls.key are not a certificate and its key", func(objects []object, _, _ *appsv1.Deployment) {
			probe := firstOf(objects, func(s *corev1.Secret) bool { return strings.HasSuffix(s.Name, "-probe-client") })
			server := firstOf(objects, func(s *corev1.Secret) bool {
				return strings.HasSuffix(s.Name, "-tls") && s.Type == corev1.SecretTypeTLS
			})
			server.Data[corev1.TLSPrivateKeyKey] = probe.Data[corev1.TLSPrivateKeyKey]
		}},
		{"Triton certificate for another name", "tls-keys-tracing", "Triton's certificate does not name triton.elsewhere.svc", func(_ []object, g, _ *appsv1.Deployment) {
			for i, v := range g.Spec.Template.Spec.Containers[0].Env {
				if v.Name == "TRITON_GRPC_URL" {
					g.Spec.Template.Spec.Containers[0].Env[i].Value = "dns:///triton.elsewhere.svc:8001"
				}
			}
		}},
		{"grace period shorter than preStop", "defaults", "leaves no time to drain", func(_ []object, g, _ *appsv1.Deployment) {
			short := int64(5)
			g.Spec.Template.Spec.TerminationGracePeriodSeconds = &short
		}},
		{"Service port to nowhere", "defaults", "targets grpcc", func(objects []object, _, _ *appsv1.Deployment) {
			firstOf(objects, func(s *corev1.Service) bool { return true }).Spec.Ports[0].TargetPort = intstr.FromString("grpcc")
		}},
		{"Triton gRPC open to a namespace", "defaults", "Triton's gRPC port admits peers other than the gateway's pods", func(objects []object, _, _ *appsv1.Deployment) {
			from := &tritonPolicy(objects).Spec.Ingress[0].From[0]
			from.NamespaceSelector = from.PodSelector
		}},
		{"Triton gRPC open to every pod of the release", "defaults", "Triton's gRPC port admits peers other than the gateway's pods", func(objects []object, _, _ *appsv1.Deployment) {
			delete(tritonPolicy(objects).Spec.Ingress[0].From[0].PodSelector.MatchLabels, componentLabel)
		}},
		{"Triton's HTTP port opened", "defaults", "Triton port http is open", func(objects []object, _, _ *appsv1.Deployment) {
			http := intstr.FromString("http")
			rule := &tritonPolicy(objects).Spec.Ingress[0]
			rule.Ports = append(rule.Ports, networkingv1.NetworkPolicyPort{Port: &http})
		}},
		{"gateway metrics open to all", "defaults", "metrics port is open to more than a monitoring namespace", func(objects []object, _, _ *appsv1.Deployment) {
			policy := firstOf(objects, func(p *networkingv1.NetworkPolicy) bool { return !strings.HasSuffix(p.Name, "-triton") })
			policy.Spec.Ingress[1].From = nil
		}},
		{"selector that misses its pods", "defaults", "spec.selector does not select its own pod template's labels", func(_ []object, g, _ *appsv1.Deployment) {
			g.Spec.Selector.MatchLabels[componentLabel] = "gatewayy"
		}},
		{"probe on an undeclared port", "defaults", `a probe uses port "metrix"`, func(_ []object, g, _ *appsv1.Deployment) {
			g.Spec.Template.Spec.Containers[0].LivenessProbe.HTTPGet.Port = intstr.FromString("metrix")
		}},
		{"Secret mounted writable", "existing-secrets", `Secret volume "tls" is mounted writable`, func(_ []object, g, _ *appsv1.Deployment) {
			for i, mount := range g.Spec.Template.Spec.Containers[0].VolumeMounts {
				if mount.Name == "tls" {
					g.Spec.Template.Spec.Containers[0].VolumeMounts[i].ReadOnly = false
				}
			}
		}},
		{"Triton readiness elsewhere", "defaults", "a probe should GET /v2/health/ready", func(_ []object, _, tr *appsv1.Deployment) {
			tr.Spec.Template.Spec.Containers[0].ReadinessProbe.HTTPGet.Path = "/v2/health/live"
		}},
		{"no model repository", "object-storage", "no --model-repository", func(_ []object, _, tr *appsv1.Deployment) {
			tr.Spec.Template.Spec.Containers[0].Args = tr.Spec.Template.Spec.Containers[0].Args[:1]
		}},
		{"HPA on a missing Deployment", "defaults", "scales Deployment gateway, which is not rendered", func(objects []object, _, _ *appsv1.Deployment) {
			firstOf(objects, func(h *autoscalingv2.HorizontalPodAutoscaler) bool { return true }).Spec.ScaleTargetRef.Name = "gateway"
		}},
		{"HPA beside fixed replicas", "defaults", "also sets replicas", func(_ []object, g, _ *appsv1.Deployment) {
			two := int32(2)
			g.Spec.Replicas = &two
		}},
		{"PDB selecting nothing", "defaults", "its selector matches no Deployment's pods", func(objects []object, _, _ *appsv1.Deployment) {
			firstOf(objects, func(p *policyv1.PodDisruptionBudget) bool { return true }).Spec.Selector.MatchLabels[componentLabel] = "none"
		}},
		{"ServiceMonitor on a port no Service has", "service-monitor", `endpoint port "metric" is on no Service it selects`, func(objects []object, _, _ *appsv1.Deployment) {
			firstOf(objects, func(m *monitoringv1.ServiceMonitor) bool { return true }).Spec.Endpoints[0].Port = "metric"
		}},
		{"CA that is not PEM", "tls-keys-tracing", "ca.crt is not PEM", func(objects []object, _, _ *appsv1.Deployment) {
			firstOf(objects, func(s *corev1.Secret) bool { return strings.HasSuffix(s.Name, "-client-ca") }).Data["ca.crt"] = []byte("not a certificate")
		}},
		{"no policy selects Triton", "defaults", "no NetworkPolicy restricts ingress to its pods", func(objects []object, _, _ *appsv1.Deployment) {
			tritonPolicy(objects).Spec.PodSelector.MatchLabels[componentLabel] = "tritonn"
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantProblem(t, checkChanged(t, c.set, c.change), c.want)
		})
	}
}

// Values are checked against values.schema.json and the templates' own conditions before anything renders.
func TestValuesAreChecked(t *testing.T) {
	cases := []struct {
		name, values, want string
	}{
		{"misspelt key", "gateway: {replica: 3}", "additional properties 'replica' not allowed"},
		{"object storage that Triton cannot read", "triton: {modelRepository: {source: objectStorage, url: http://bucket/models}}", "does not match pattern"},
		{"object storage without a path", "triton: {modelRepository: {source: objectStorage}}", "triton.modelRepository.url is needed"},
		{"client certificates without TLS", "tls: {clientCA: {enabled: true, existingSecret: ca, probeClient: {existingSecret: probe}}}", "tls.clientCA needs tls.gateway"},
		{"TLS without a certificate", "tls: {gateway: {enabled: true}}", "the tls Secret needs its cert value"},
		{"no Triton to call", "triton: {enabled: false}", "set gateway.tritonGrpcUrl"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "values.yaml")
			if err := os.WriteFile(file, []byte(c.values), 0o600); err != nil {
				t.Fatal(err)
			}
			set, err := readValuesSet(file)
			if err != nil {
				t.Fatal(err)
			}
			_, problems := validate(chartDir, set.Values, gatewayEnv(t))
			wantProblem(t, problems, c.want)
		})
	}
}

func TestGatewayVariablesComeFromItsSources(t *testing.T) {
	env := gatewayEnv(t)
	for _, name := range []string{"RERANK_LISTEN", "RERANK_HTTP_LISTEN", "RERANK_METRICS_LISTEN", "TRITON_GRPC_URL", "RERANK_TOKENIZER_DIR"} {
		if problem := env.check(name); problem != "" {
			t.Errorf("%s: %s", name, problem)
		}
	}
	if env.check("OTEL_SERVICE_NAME") != "" || env.check("OTEL_SERVICE_NAM") == "" {
		t.Error("OTEL_* names are checked against the OpenTelemetry SDK's list")
	}
}
