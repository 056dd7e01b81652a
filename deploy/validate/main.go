// Command validate checks the rerank-gateway Helm chart as CI does: for the chart's defaults and each values set
// in its ci/ folder it runs helm lint's rules (strict, values against values.schema.json), renders the chart as
// helm template does, decodes every object strictly into its official Kubernetes (or Prometheus Operator) Go type,
// and checks what a deployment needs (checks.go). It exits 1 naming every problem.
//
// Usage: go run . -chart ../helm/rerank-gateway -src ../../src
package main

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
)

func main() {
	chartDir := flag.String("chart", "../helm/rerank-gateway", "the chart's folder")
	srcDir := flag.String("src", "../../src", "the gateway's sources, for the variables it reads")
	print := flag.String("print", "", "print what this values set renders (defaults, or a ci/ file's name) and stop")
	flag.Parse()

	env, err := readEnvNames(*srcDir)
	if err != nil {
		fatal(err)
	}
	sets, err := valuesSets(*chartDir)
	if err != nil {
		fatal(err)
	}
	if *print != "" {
		printSet(*chartDir, sets, *print)
		return
	}
	failed := false
	for _, set := range sets {
		objects, problems := validate(*chartDir, set.Values, env)
		if len(problems) > 0 {
			failed = true
			fmt.Printf("FAIL values set %s:\n  %s\n", set.Name, strings.Join(problems, "\n  "))
			continue
		}
		fmt.Printf("ok   values set %s: %s\n", set.Name, summary(objects))
	}
	if failed {
		os.Exit(1)
	}
}

// validate lints and renders the chart with one values set and returns its objects and every problem found.
func validate(chartDir string, values map[string]any, env envNames) ([]object, []string) {
	if problems := lintChart(chartDir, values); len(problems) > 0 {
		return nil, problems
	}
	manifests, err := renderChart(chartDir, values)
	if err != nil {
		return nil, []string{"helm template: " + err.Error()}
	}
	objects, problems := decodeAll(manifests)
	if len(problems) > 0 {
		return objects, problems
	}
	return objects, check(objects, env)
}

func decodeAll(manifests []manifest) ([]object, []string) {
	var objects []object
	var problems []string
	for _, m := range manifests {
		decoded, err := decodeStrict(m)
		if err != nil {
			problems = append(problems, "decode: "+err.Error())
		} else if decoded != nil {
			objects = append(objects, *decoded)
		}
	}
	return objects, problems
}

// summary counts the objects by kind: "2 Deployment, 1 HorizontalPodAutoscaler, ...".
func summary(objects []object) string {
	counts := map[string]int{}
	for _, o := range objects {
		counts[o.Kind]++
	}
	kinds := make([]string, 0, len(counts))
	for kind, count := range counts {
		kinds = append(kinds, fmt.Sprintf("%d %s", count, kind))
	}
	sort.Strings(kinds)
	return strings.Join(kinds, ", ")
}

// printSet writes one values set's manifests as helm template would.
func printSet(chartDir string, sets []valuesSet, name string) {
	for _, set := range sets {
		if set.Name != name {
			continue
		}
		manifests, err := renderChart(chartDir, set.Values)
		if err != nil {
			fatal(err)
		}
		for _, m := range manifests {
			fmt.Printf("---\n# Source: %s\n%s\n", m.Source, strings.TrimSpace(m.YAML))
		}
		return
	}
	fatal(fmt.Errorf("no values set %q", name))
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "validate:", err)
	os.Exit(2)
}
