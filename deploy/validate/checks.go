package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"path"
	"slices"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

const componentLabel = "app.kubernetes.io/component"

// checker holds one values set's decoded objects and collects what is wrong with them.
type checker struct {
	objects  []object
	env      envNames
	problems []string
}

func (c *checker) fail(format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

// check runs every rule on a values set's objects and returns the problems found.
func check(objects []object, env envNames) []string {
	c := &checker{objects: objects, env: env}
	deployments := c.deployments()
	for _, d := range deployments {
		c.checkDeployment(d)
	}
	gateway, triton := deploymentOf(deployments, "gateway"), deploymentOf(deployments, "triton")
	if gateway == nil {
		c.fail("no gateway Deployment (label %s=gateway)", componentLabel)
	} else {
		c.checkGateway(gateway)
	}
	if triton != nil {
		c.checkTriton(triton)
	}
	if gateway != nil && triton != nil {
		c.checkTritonCertificate(gateway, triton)
	}
	for _, o := range objects {
		switch v := o.Value.(type) {
		case *corev1.Service:
			c.checkService(o, v, deployments)
		case *autoscalingv2.HorizontalPodAutoscaler:
			c.checkHPA(o, v, deployments)
		case *policyv1.PodDisruptionBudget:
			c.checkSelectsDeployment(o, v.Spec.Selector, deployments)
		case *monitoringv1.ServiceMonitor:
			c.checkServiceMonitor(o, v)
		case *corev1.Secret:
			c.checkSecret(o, v)
		}
	}
	c.checkNetworkPolicies(gateway, triton)
	return c.problems
}

func (c *checker) deployments() []*appsv1.Deployment {
	var found []*appsv1.Deployment
	for _, o := range c.objects {
		if d, ok := o.Value.(*appsv1.Deployment); ok {
			found = append(found, d)
		}
	}
	return found
}

func deploymentOf(deployments []*appsv1.Deployment, component string) *appsv1.Deployment {
	for _, d := range deployments {
		if d.Spec.Template.Labels[componentLabel] == component {
			return d
		}
	}
	return nil
}

// selects says whether a label selector picks the Deployment's pods.
func selects(selector *metav1.LabelSelector, d *appsv1.Deployment) bool {
	parsed, err := metav1.LabelSelectorAsSelector(selector)
	return err == nil && selector != nil && !parsed.Empty() && parsed.Matches(labels.Set(d.Spec.Template.Labels))
}

// checkDeployment: the selector picks the template's pods, and every container is bounded, probed and
// unprivileged, mounts only declared volumes (Secrets read-only), and the grace period outlasts preStop.
func (c *checker) checkDeployment(d *appsv1.Deployment) {
	name := "Deployment " + d.Name
	if !selects(d.Spec.Selector, d) {
		c.fail("%s: spec.selector does not select its own pod template's labels", name)
	}
	pod := d.Spec.Template.Spec
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	for _, container := range slices.Concat(pod.InitContainers, pod.Containers) {
		where := fmt.Sprintf("%s container %s", name, container.Name)
		for _, resource := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if _, ok := container.Resources.Requests[resource]; !ok {
				c.fail("%s: no %s request", where, resource)
			}
		}
		if _, ok := container.Resources.Limits[corev1.ResourceMemory]; !ok {
			c.fail("%s: no memory limit", where)
		}
		if container.ReadinessProbe == nil || container.LivenessProbe == nil {
			c.fail("%s: needs both a readiness and a liveness probe", where)
		}
		for _, probe := range []*corev1.Probe{container.StartupProbe, container.ReadinessProbe, container.LivenessProbe} {
			if port, named := probePort(probe); named && !hasPort(container, port) {
				c.fail("%s: a probe uses port %q, which the container does not declare", where, port)
			}
		}
		c.checkSecurity(where, pod.SecurityContext, container.SecurityContext)
		for _, mount := range container.VolumeMounts {
			volume, ok := volumes[mount.Name]
			if !ok {
				c.fail("%s: mounts volume %q, which the pod does not declare", where, mount.Name)
			} else if volume.Secret != nil && !mount.ReadOnly {
				c.fail("%s: Secret volume %q is mounted writable", where, mount.Name)
			}
		}
		if container.Lifecycle != nil && container.Lifecycle.PreStop != nil && container.Lifecycle.PreStop.Sleep != nil {
			grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
			if pod.TerminationGracePeriodSeconds != nil {
				grace = *pod.TerminationGracePeriodSeconds
			}
			if sleep := container.Lifecycle.PreStop.Sleep.Seconds; grace <= sleep {
				c.fail("%s: terminationGracePeriodSeconds %d leaves no time to drain after the %d s preStop sleep", where, grace, sleep)
			}
		}
	}
}

func (c *checker) checkSecurity(where string, pod *corev1.PodSecurityContext, container *corev1.SecurityContext) {
	nonRoot := pod != nil && pod.RunAsNonRoot != nil && *pod.RunAsNonRoot
	if container != nil && container.RunAsNonRoot != nil {
		nonRoot = *container.RunAsNonRoot
	}
	if !nonRoot {
		c.fail("%s: runAsNonRoot is not true", where)
	}
	if container == nil {
		c.fail("%s: no securityContext", where)
		return
	}
	if container.ReadOnlyRootFilesystem == nil || !*container.ReadOnlyRootFilesystem {
		c.fail("%s: readOnlyRootFilesystem is not true", where)
	}
	if container.AllowPrivilegeEscalation == nil || *container.AllowPrivilegeEscalation {
		c.fail("%s: allowPrivilegeEscalation is not false", where)
	}
	if container.Capabilities == nil || !slices.Contains(container.Capabilities.Drop, "ALL") {
		c.fail("%s: capabilities do not drop ALL", where)
	}
}

// probePort returns a probe's port when it is given by name.
func probePort(probe *corev1.Probe) (string, bool) {
	if probe == nil {
		return "", false
	}
	var port intstr.IntOrString
	switch {
	case probe.HTTPGet != nil:
		port = probe.HTTPGet.Port
	case probe.TCPSocket != nil:
		port = probe.TCPSocket.Port
	default:
		return "", false
	}
	return port.StrVal, port.Type == intstr.String
}

func hasPort(container corev1.Container, name string) bool {
	return slices.ContainsFunc(container.Ports, func(p corev1.ContainerPort) bool { return p.Name == name })
}

// containerPort resolves a port given by name or number to the container port it means, or 0.
func containerPort(d *appsv1.Deployment, port intstr.IntOrString) int32 {
	for _, container := range d.Spec.Template.Spec.Containers {
		for _, p := range container.Ports {
			if (port.Type == intstr.String && p.Name == port.StrVal) || (port.Type == intstr.Int && p.ContainerPort == port.IntVal) {
				return p.ContainerPort
			}
		}
	}
	return 0
}

// namedPort is the container port the Deployment calls name, or 0.
func namedPort(d *appsv1.Deployment, name string) int32 {
	return containerPort(d, intstr.FromString(name))
}

// checkGateway: every variable is one the gateway reads, and every *_FILE variable names a file in a
// read-only mounted Secret.
func (c *checker) checkGateway(d *appsv1.Deployment) {
	for _, container := range d.Spec.Template.Spec.Containers {
		for _, variable := range container.Env {
			if problem := c.env.check(variable.Name); problem != "" {
				c.fail("Deployment %s container %s: env %s", d.Name, container.Name, problem)
			}
			if strings.HasSuffix(variable.Name, "_FILE") && !secretMountHolds(d, container, variable.Value) {
				c.fail("Deployment %s container %s: %s=%s is not in a read-only Secret volume", d.Name, container.Name, variable.Name, variable.Value)
			}
		}
	}
}

func secretMountHolds(d *appsv1.Deployment, container corev1.Container, file string) bool {
	for _, mount := range container.VolumeMounts {
		if path.Dir(file) != path.Clean(mount.MountPath) || !mount.ReadOnly {
			continue
		}
		for _, volume := range d.Spec.Template.Spec.Volumes {
			if volume.Name == mount.Name && volume.Secret != nil {
				return true
			}
		}
	}
	return false
}

// checkTriton: a GPU, a model repository, and probes on Triton's own health endpoints.
func (c *checker) checkTriton(d *appsv1.Deployment) {
	for _, container := range d.Spec.Template.Spec.Containers {
		where := fmt.Sprintf("Deployment %s container %s", d.Name, container.Name)
		if gpus, ok := container.Resources.Limits["nvidia.com/gpu"]; !ok || gpus.IsZero() {
			c.fail("%s: no nvidia.com/gpu limit", where)
		}
		if !slices.ContainsFunc(container.Args, func(arg string) bool { return strings.HasPrefix(arg, "--model-repository=") }) {
			c.fail("%s: no --model-repository", where)
		}
		for probe, want := range map[*corev1.Probe]string{container.ReadinessProbe: "/v2/health/ready", container.LivenessProbe: "/v2/health/live"} {
			if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != want {
				c.fail("%s: a probe should GET %s", where, want)
			}
		}
	}
}

// checkTritonCertificate: when the chart makes Triton's TLS Secret, its certificate names every host the gateway
// dials in TRITON_GRPC_URL, or the gateway's TLS handshake with Triton fails.
func (c *checker) checkTritonCertificate(gateway, triton *appsv1.Deployment) {
	var secretName string
	for _, volume := range triton.Spec.Template.Spec.Volumes {
		if volume.Name == "tls" && volume.Secret != nil {
			secretName = volume.Secret.SecretName
		}
	}
	var certificate *x509.Certificate
	for _, o := range c.objects {
		if s, ok := o.Value.(*corev1.Secret); ok && secretName != "" && s.Name == secretName {
			if block, _ := pem.Decode(s.Data[corev1.TLSCertKey]); block != nil {
				certificate, _ = x509.ParseCertificate(block.Bytes)
			}
		}
	}
	if certificate == nil {
		return // TLS to Triton is off, or its Secret is made outside the chart
	}
	for _, container := range gateway.Spec.Template.Spec.Containers {
		for _, variable := range container.Env {
			if variable.Name != "TRITON_GRPC_URL" {
				continue
			}
			for _, target := range strings.Split(variable.Value, ",") {
				host, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(target), "dns:///"), ":")
				if err := certificate.VerifyHostname(host); err != nil {
					c.fail("Secret %s: Triton's certificate does not name %s, which the gateway dials: %v", secretName, host, err)
				}
			}
		}
	}
}

// checkService: the Service selects pods of one Deployment and every target port is one of theirs.
func (c *checker) checkService(o object, s *corev1.Service, deployments []*appsv1.Deployment) {
	var target *appsv1.Deployment
	for _, d := range deployments {
		if len(s.Spec.Selector) > 0 && labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
			target = d
		}
	}
	if target == nil {
		c.fail("%s: its selector matches no Deployment's pods", o)
		return
	}
	for _, port := range s.Spec.Ports {
		if containerPort(target, port.TargetPort) == 0 {
			c.fail("%s: port %s targets %s, which Deployment %s does not declare", o, port.Name, port.TargetPort.String(), target.Name)
		}
	}
}

func (c *checker) checkHPA(o object, h *autoscalingv2.HorizontalPodAutoscaler, deployments []*appsv1.Deployment) {
	ref := h.Spec.ScaleTargetRef
	for _, d := range deployments {
		if ref.Kind == "Deployment" && ref.Name == d.Name {
			if d.Spec.Replicas != nil {
				c.fail("%s: Deployment %s also sets replicas, which every upgrade would reset under the HPA", o, d.Name)
			}
			return
		}
	}
	c.fail("%s: scales %s %s, which is not rendered", o, ref.Kind, ref.Name)
}

func (c *checker) checkSelectsDeployment(o object, selector *metav1.LabelSelector, deployments []*appsv1.Deployment) {
	if !slices.ContainsFunc(deployments, func(d *appsv1.Deployment) bool { return selects(selector, d) }) {
		c.fail("%s: its selector matches no Deployment's pods", o)
	}
}

func (c *checker) checkServiceMonitor(o object, sm *monitoringv1.ServiceMonitor) {
	for _, endpoint := range sm.Spec.Endpoints {
		scraped := 0
		for _, other := range c.objects {
			s, ok := other.Value.(*corev1.Service)
			if !ok {
				continue
			}
			selector, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
			if err == nil && selector.Matches(labels.Set(s.Labels)) &&
				slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == endpoint.Port }) {
				scraped++
			}
		}
		if scraped == 0 {
			c.fail("%s: endpoint port %q is on no Service it selects", o, endpoint.Port)
		}
	}
}

// checkSecret: a TLS Secret holds a certificate and the key that goes with it; a CA bundle holds certificates.
func (c *checker) checkSecret(o object, s *corev1.Secret) {
	if s.Type == corev1.SecretTypeTLS {
		if _, err := tls.X509KeyPair(s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey]); err != nil {
			c.fail("%s: tls.crt and tls.key are not a certificate and its key: %v", o, err)
		}
	}
	if ca, ok := s.Data["ca.crt"]; ok {
		block, _ := pem.Decode(ca)
		if block == nil {
			c.fail("%s: ca.crt is not PEM", o)
		} else if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			c.fail("%s: ca.crt: %v", o, err)
		}
	}
}

// checkNetworkPolicies: Triton takes gRPC only from the gateway's pods, and the metrics ports of both take
// traffic only from a namespace selector (the monitoring namespace); no rule is open to every peer or port.
func (c *checker) checkNetworkPolicies(gateway, triton *appsv1.Deployment) {
	for _, d := range []*appsv1.Deployment{gateway, triton} {
		if d == nil {
			continue
		}
		guarded := false
		for _, o := range c.objects {
			policy, ok := o.Value.(*networkingv1.NetworkPolicy)
			if !ok || !selects(&policy.Spec.PodSelector, d) {
				continue
			}
			guarded = guarded || slices.Contains(policy.Spec.PolicyTypes, networkingv1.PolicyTypeIngress)
			for _, rule := range policy.Spec.Ingress {
				c.checkIngressRule(o, rule, d, gateway)
			}
		}
		if !guarded {
			c.fail("Deployment %s: no NetworkPolicy restricts ingress to its pods", d.Name)
		}
	}
}

func (c *checker) checkIngressRule(o object, rule networkingv1.NetworkPolicyIngressRule, d, gateway *appsv1.Deployment) {
	if len(rule.Ports) == 0 {
		c.fail("%s: a rule admits every port of Deployment %s", o, d.Name)
		return
	}
	isTriton := d != gateway
	for _, port := range rule.Ports {
		number := containerPort(d, *port.Port)
		switch {
		case number == 0:
			c.fail("%s: port %s is not a port of Deployment %s", o, port.Port.String(), d.Name)
		case number == namedPort(d, "metrics"):
			if len(rule.From) == 0 || slices.ContainsFunc(rule.From, func(p networkingv1.NetworkPolicyPeer) bool { return p.NamespaceSelector == nil || p.PodSelector != nil }) {
				c.fail("%s: Deployment %s's metrics port is open to more than a monitoring namespace", o, d.Name)
			}
		case isTriton && number == namedPort(d, "grpc"):
			if gateway == nil || len(rule.From) == 0 || slices.ContainsFunc(rule.From, func(p networkingv1.NetworkPolicyPeer) bool {
				return p.PodSelector == nil || p.NamespaceSelector != nil || p.IPBlock != nil ||
					!selects(p.PodSelector, gateway) || selects(p.PodSelector, d)
			}) {
				c.fail("%s: Triton's gRPC port admits peers other than the gateway's pods", o)
			}
		case isTriton:
			c.fail("%s: Triton port %s is open; only gRPC (from the gateway) and metrics may be", o, port.Port.String())
		}
	}
}
