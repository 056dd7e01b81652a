package main

import (
	"bytes"
	"fmt"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// The kinds the chart may render, each with its official Go type; anything else is refused.
var apiTypes = map[string]func() any{
	"apps/v1/Deployment":                      func() any { return &appsv1.Deployment{} },
	"v1/Service":                              func() any { return &corev1.Service{} },
	"v1/Secret":                               func() any { return &corev1.Secret{} },
	"autoscaling/v2/HorizontalPodAutoscaler":  func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"policy/v1/PodDisruptionBudget":           func() any { return &policyv1.PodDisruptionBudget{} },
	"networking.k8s.io/v1/NetworkPolicy":      func() any { return &networkingv1.NetworkPolicy{} },
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return &monitoringv1.ServiceMonitor{} },
}

// A rendered object decoded into its API type.
type object struct {
	Source string // the template it came from
	Kind   string
	Name   string
	Value  any // *appsv1.Deployment, *corev1.Service, ...
}

func (o object) String() string { return fmt.Sprintf("%s %s (%s)", o.Kind, o.Name, o.Source) }

// decodeStrict decodes one manifest into the Go type of its apiVersion and kind as the API server's strict
// field validation does: unknown fields, duplicate fields and fields in the wrong case are errors (sigs.k8s.io/json;
// encoding/json alone would match field names case-insensitively), and so is a value its type cannot hold (a
// malformed quantity, a string for an integer). A manifest that is empty after its comments gives nil.
func decodeStrict(m manifest) (*object, error) {
	data, err := yaml.YAMLToJSONStrict([]byte(m.YAML))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.Source, err)
	}
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		return nil, nil
	}
	var header struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := kjson.UnmarshalCaseSensitivePreserveInts(data, &header); err != nil {
		return nil, fmt.Errorf("%s: %w", m.Source, err)
	}
	newValue, known := apiTypes[header.APIVersion+"/"+header.Kind]
	if !known {
		return nil, fmt.Errorf("%s: %s %q has apiVersion/kind %s/%s, which the validator does not know",
			m.Source, header.Kind, header.Metadata.Name, header.APIVersion, header.Kind)
	}
	value := newValue()
	strictErrors, err := kjson.UnmarshalStrict(data, value, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return nil, fmt.Errorf("%s: %s %q: %w", m.Source, header.Kind, header.Metadata.Name, err)
	}
	if len(strictErrors) > 0 {
		return nil, fmt.Errorf("%s: %s %q: %v", m.Source, header.Kind, header.Metadata.Name, strictErrors)
	}
	if header.Metadata.Name == "" {
		return nil, fmt.Errorf("%s: a %s without metadata.name", m.Source, header.Kind)
	}
	return &object{Source: m.Source, Kind: header.Kind, Name: header.Metadata.Name, Value: value}, nil
}
