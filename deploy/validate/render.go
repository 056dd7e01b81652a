package main

import (
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	"helm.sh/helm/v3/pkg/releaseutil"
)

// The oldest Kubernetes the chart supports (Chart.yaml's kubeVersion): the chart is linted and rendered for it.
const kubeVersion = "v1.30.0"

const (
	releaseName = "rerank-gateway"
	namespace   = "search"
)

// A values set CI renders the chart with: the chart's defaults (no file) or defaults overridden by a ci/ file.
type valuesSet struct {
	Name   string
	Values map[string]any
}

// valuesSets returns the defaults followed by every ci/*-values.yaml of the chart, sorted by name.
func valuesSets(chartDir string) ([]valuesSet, error) {
	sets := []valuesSet{{Name: "defaults", Values: map[string]any{}}}
	files, err := filepath.Glob(filepath.Join(chartDir, "ci", "*-values.yaml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	for _, file := range files {
		set, err := readValuesSet(file)
		if err != nil {
			return nil, err
		}
		sets = append(sets, set)
	}
	return sets, nil
}

// readValuesSet reads a values file, named after the file without its -values.yaml.
func readValuesSet(file string) (valuesSet, error) {
	values, err := chartutil.ReadValuesFile(file)
	return valuesSet{Name: strings.TrimSuffix(filepath.Base(file), "-values.yaml"), Values: values}, err
}

// lintChart runs helm lint's rules (Chart.yaml, values against values.schema.json, every template) as
// `helm lint --strict` does: a warning fails like an error.
func lintChart(chartDir string, values map[string]any) []string {
	version, err := chartutil.ParseKubeVersion(kubeVersion)
	if err != nil {
		return []string{err.Error()}
	}
	// In lint mode Helm logs each template's fail/required as a note and renders on; renderChart reports them.
	log.SetOutput(io.Discard)
	defer log.SetOutput(os.Stderr)
	linter := lint.AllWithKubeVersion(chartDir, values, namespace, version)
	var problems []string
	for _, message := range linter.Messages {
		if message.Severity >= support.WarningSev {
			problems = append(problems, "helm lint: "+message.Error())
		}
	}
	return problems
}

// A manifest as `helm template` writes it: the template it came from and its YAML.
type manifest struct {
	Source string
	YAML   string
}

// renderChart renders the chart as `helm template` does, for a release in namespace on kubeVersion, with the
// values checked against the chart's schema; NOTES.txt is left out.
func renderChart(chartDir string, values map[string]any) ([]manifest, error) {
	chart, err := loader.Load(chartDir)
	if err != nil {
		return nil, err
	}
	version, err := chartutil.ParseKubeVersion(kubeVersion)
	if err != nil {
		return nil, err
	}
	capabilities := chartutil.DefaultCapabilities.Copy()
	capabilities.KubeVersion = *version
	options := chartutil.ReleaseOptions{Name: releaseName, Namespace: namespace, IsInstall: true}
	renderValues, err := chartutil.ToRenderValues(chart, values, options, capabilities)
	if err != nil {
		return nil, err
	}
	files, err := engine.Render(chart, renderValues)
	if err != nil {
		return nil, err
	}
	var manifests []manifest
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if strings.HasSuffix(name, "NOTES.txt") {
			continue
		}
		docs := releaseutil.SplitManifests(files[name])
		keys := make([]string, 0, len(docs))
		for key := range docs {
			keys = append(keys, key)
		}
		sort.Sort(releaseutil.BySplitManifestsOrder(keys))
		for _, key := range keys {
			if strings.TrimSpace(docs[key]) != "" {
				manifests = append(manifests, manifest{Source: filepath.Base(name), YAML: docs[key]})
			}
		}
	}
	if len(manifests) == 0 {
		return nil, fmt.Errorf("the chart rendered no object")
	}
	return manifests, nil
}
