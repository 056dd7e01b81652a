package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// The gateway's own variables as its sources spell them (src/config reads RERANK_* and TRITON_* by name).
var gatewayVariable = regexp.MustCompile(`\b(?:RERANK|TRITON)_[A-Z0-9_]*[A-Z0-9]\b`)

// The OpenTelemetry SDK's standard variables for traces (opentelemetry.io/docs/specs/otel/configuration/
// sdk-environment-variables and the OTLP exporter's); the gateway's tracing SDK reads them itself, not src/.
var otelVariables = []string{
	"OTEL_SDK_DISABLED", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_LOG_LEVEL", "OTEL_PROPAGATORS",
	"OTEL_TRACES_EXPORTER", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG",
	"OTEL_BSP_SCHEDULE_DELAY", "OTEL_BSP_EXPORT_TIMEOUT", "OTEL_BSP_MAX_QUEUE_SIZE", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
	"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL",
	"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
	"OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_COMPRESSION",
	"OTEL_EXPORTER_OTLP_CERTIFICATE", "OTEL_EXPORTER_OTLP_CLIENT_KEY", "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
}

// envNames knows which variables the gateway reads.
type envNames struct {
	read map[string]bool // named in src/
}

// readEnvNames collects the RERANK_* and TRITON_* names the gateway's TypeScript sources under srcDir mention.
func readEnvNames(srcDir string) (envNames, error) {
	names := envNames{read: map[string]bool{}}
	err := filepath.WalkDir(srcDir, func(file string, entry fs.DirEntry, err error) error {
		if err != nil || entry.IsDir() || !strings.HasSuffix(file, ".ts") {
			return err
		}
		text, err := os.ReadFile(file)
		for _, name := range gatewayVariable.FindAllString(string(text), -1) {
			names.read[name] = true
		}
		return err
	})
	if err == nil && len(names.read) == 0 {
		err = fmt.Errorf("no RERANK_* variable found under %s", srcDir)
	}
	return names, err
}

// check returns why the gateway would ignore the variable name, or "" when it reads it.
func (n envNames) check(name string) string {
	if n.read[name] || slices.Contains(otelVariables, name) {
		return ""
	}
	return fmt.Sprintf("%s is not a variable the gateway reads (src/, the OpenTelemetry SDK's)", name)
}
