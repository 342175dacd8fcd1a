//go:build compat

package compat

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The schema registry checks: each client registers schemas with skein's
// embedded registry through its serializers, produces and consumes records
// encoded with them, evolves the schema compatibly and has an incompatible
// change refused. See the programs:
//
//	python/registry_check.py  (confluent-kafka: Avro, JSON Schema, Protobuf)
//	node/registry_check.js    (kafkajs + @kafkajs/confluent-schema-registry: Avro)

// registryWriterTimeout bounds the wait for the registry to accept writes
// (its writer is elected through a consumer group, about 3 s after start).
const registryWriterTimeout = 60 * time.Second

// registry returns the URL of the schema registry of the broker under test:
// SKEIN_COMPAT_REGISTRY when SKEIN_COMPAT_BOOTSTRAP names a broker, else
// skein serve's embedded one. It waits until the registry accepts writes.
func registry(t *testing.T) string {
	t.Helper()
	var url string
	if os.Getenv("SKEIN_COMPAT_BOOTSTRAP") != "" {
		url = os.Getenv("SKEIN_COMPAT_REGISTRY")
		if url == "" {
			t.Fatalf("SKEIN_COMPAT_BOOTSTRAP is set: set SKEIN_COMPAT_REGISTRY to its schema registry's URL too")
		}
	} else {
		_, b := bootstrap(t)
		url = b.registryURL
	}
	url = strings.TrimRight(url, "/")
	if err := waitRegistryWriter(url); err != nil {
		t.Fatalf("schema registry %s: %v", url, err)
	}
	return url
}

// waitRegistryWriter polls with a harmless write, setting the
// compatibility level of a probe subject (that has no schemas), until the
// registry has a writer.
func waitRegistryWriter(url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), registryWriterTimeout)
	defer cancel()
	probe := url + "/config/" + topicPrefix() + "-writer-probe"
	var lastErr error
	for {
		lastErr = registryCall(ctx, "PUT", probe, `{"compatibility":"BACKWARD"}`)
		if lastErr == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no writer after %v: %v", registryWriterTimeout, lastErr)
		case <-time.After(100 * time.Millisecond): // poll interval
		}
	}
}

func registryCall(ctx context.Context, method, url, body string) error {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, method, url, strings.NewReader(body))
	if err != nil {
		return err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: HTTP %d %s", method, url, resp.StatusCode, strings.TrimSpace(string(out)))
	}
	return nil
}

func TestCompatRegistryPython(t *testing.T) {
	py := venvPython(t)
	if out, err := exec.Command(py, "-c", "import confluent_kafka.schema_registry.avro, confluent_kafka.schema_registry.json_schema, confluent_kafka.schema_registry.protobuf").CombinedOutput(); err != nil {
		t.Fatalf("confluent-kafka's schema registry serializers do not import in %s: %v\n%s\n%s", py, err, out, installHint)
	}
	url := registry(t)
	addr, _ := bootstrap(t)
	runProgram(t, "confluent-kafka schema registry", []string{py, filepath.Join(compatDir, "python", "registry_check.py"), addr, url, topicPrefix()})
}

func TestCompatRegistryNode(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed (Node 18 or newer is needed)")
	}
	for _, pkg := range []string{"kafkajs", "@kafkajs/confluent-schema-registry"} {
		if _, err := os.Stat(filepath.Join(compatDir, "node", "node_modules", pkg, "package.json")); err != nil {
			t.Fatalf("%s is not installed in test/compat/node: %s", pkg, installHint)
		}
	}
	url := registry(t)
	addr, _ := bootstrap(t)
	runProgram(t, "kafkajs schema registry", []string{node, filepath.Join(compatDir, "node", "registry_check.js"), addr, url, topicPrefix()})
}
