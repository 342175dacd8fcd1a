//go:build compat

package compat

import (
	"context"
	"crypto/tls"
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

// TestCompatRegistryHTTPSBasicPython runs skein serve with its embedded
// schema registry on HTTPS with BASIC authentication (a CA and the
// registry's certificate generated for the test) and has confluent-kafka's
// SchemaRegistryClient (ssl.ca.location, basic.auth.user.info) register
// and fetch a schema, then be refused with bad credentials (401) and
// without the required role (403). See python/registry_auth_check.py.
func TestCompatRegistryHTTPSBasicPython(t *testing.T) {
	if os.Getenv("SKEIN_COMPAT_BOOTSTRAP") != "" {
		t.Skip("the check configures a broker of its own; SKEIN_COMPAT_BOOTSTRAP is not used")
	}
	py := venvPython(t)
	if out, err := exec.Command(py, "-c", "import confluent_kafka.schema_registry").CombinedOutput(); err != nil {
		t.Fatalf("confluent-kafka's schema registry client does not import in %s: %v\n%s\n%s", py, err, out, installHint)
	}
	pki := newSecurityPKI(t)
	pass := securitySecret()
	users := filepath.Join(pki.dir, "registry-users.properties")
	writeSecurityFile(t, users, []byte("# registry users\nalice: "+pass+",developer\nreader: "+pass+",viewer\n"))
	bin := skeinBinary(t)
	tmp := t.TempDir()
	var b *broker
	var url string
	var lastErr error
	for attempt := 0; attempt < 3 && b == nil; attempt++ {
		b, url, lastErr = launchHTTPSRegistry(t, bin, tmp, pki, users, attempt)
		if lastErr != nil && !strings.Contains(lastErr.Error(), "address already in use") {
			break
		}
	}
	if b == nil {
		t.Fatalf("starting skein serve: %v", lastErr)
	}
	t.Cleanup(func() {
		if err := b.stop(); err != nil {
			t.Errorf("stopping skein: %v", err)
		}
	})
	// Wait for the writer, authenticated, over HTTPS.
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.pool}}}
	deadline := time.Now().Add(registryWriterTimeout)
	for {
		req, _ := http.NewRequest("PUT", url+"/config/"+topicPrefix()+"-auth-probe", strings.NewReader(`{"compatibility":"BACKWARD"}`))
		req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
		req.SetBasicAuth("alice", pass)
		resp, err := hc.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
			err = fmt.Errorf("HTTP %d %s", resp.StatusCode, body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("registry %s accepts no write: %v\n--- skein log ---\n%s", url, err, b.logTail(40))
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
	ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, filepath.Join(compatDir, "python", "registry_auth_check.py"),
		url, pki.caFile, "alice:"+pass, topicPrefix()+"-auth-value", "reader:"+pass)
	cmd.Dir = compatDir
	out := &lineLogger{t: t}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		t.Fatalf("registry_auth_check.py: %v\n--- skein log ---\n%s", err, b.logTail(40))
	}
	if n := strings.Count(readFile(t, b.logPath), "schema registry request refused"); n < 12 {
		t.Errorf("skein logged %d refused registry requests, want at least 12", n)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// launchHTTPSRegistry starts skein serve with a PLAINTEXT listener and
// its registry on HTTPS with BASIC authentication, and returns it with the
// registry's URL once the registry's port accepts connections.
func launchHTTPSRegistry(t *testing.T, bin, tmp string, pki *securityPKI, users string, attempt int) (*broker, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	regPort, err := freePort()
	if err != nil {
		return nil, "", err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	url := fmt.Sprintf("https://localhost:%d", regPort)
	dir := filepath.Join(tmp, fmt.Sprint(attempt))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", err
	}
	props := strings.Join([]string{
		"listeners=PLAINTEXT://" + addr,
		"log.dirs=" + filepath.Join(dir, "data"),
		"skein.admin.address=",
		"group.initial.rebalance.delay.ms=0",
		fmt.Sprintf("skein.registry.address=https://127.0.0.1:%d", regPort),
		"skein.registry.advertised.url=" + url,
		"skein.registry.ssl.keystore.location=" + pki.serverFile,
		"skein.registry.ssl.truststore.location=" + pki.caFile,
		"skein.registry.authentication.method=BASIC",
		"skein.registry.authentication.realm=SchemaRegistry-Props",
		"skein.registry.authentication.roles=admin,developer",
		"skein.registry.authentication.users.file=" + users,
	}, "\n") + "\n"
	propsFile := filepath.Join(dir, "server.properties")
	if err := os.WriteFile(propsFile, []byte(props), 0o600); err != nil {
		return nil, "", err
	}
	b, err := startSkein(filepath.Join(dir, "skein.log"), bin, "serve", "--config", propsFile)
	if err != nil {
		return nil, "", err
	}
	b.addr, b.registryURL, b.tmp = addr, url, dir
	// waitReady dials the registry's port, whatever the scheme.
	b.registryURL = fmt.Sprintf("http://127.0.0.1:%d", regPort)
	if err := b.waitReady(); err != nil {
		b.kill()
		return nil, "", fmt.Errorf("skein serve: %v\n--- skein log ---\n%s", err, b.logTail(60))
	}
	b.registryURL = url
	t.Logf("skein serve with %s", strings.ReplaceAll(strings.TrimSpace(props), "\n", " "))
	return b, url, nil
}
