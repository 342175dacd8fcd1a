package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/skein-streaming/skein/broker"
	"github.com/skein-streaming/skein/internal/config"
)

// storageCLI runs `skein storage format` with args.
func storageCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(t.Context(), append([]string{"storage", "format"}, args...), strings.NewReader(""), &out, &errOut)
	return out.String(), err
}

// TestStorageFormatSCRAMOnlyCluster formats a data directory with
// --add-scram and starts skein serve whose only listener is SASL_SSL with
// SCRAM-SHA-512, an authorizer and super.users=User:admin: the admin's
// --command-config works at once (no other listener ever existed), a
// wrong password fails; alice's password changed with
// AlterUserScramCredentials survives a restart (the bootstrap is applied
// once, and never overwrites a credential).
func TestStorageFormatSCRAMOnlyCluster(t *testing.T) {
	ca := newTestCA(t)
	dataDir := t.TempDir()
	addr := freePort(t)
	props := properties(t,
		"log.dirs="+dataDir,
		"listeners=SASL_SSL://"+addr,
		"ssl.keystore.location="+ca.keystore(t, "broker", true),
		"sasl.enabled.mechanisms=SCRAM-SHA-512",
		"sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512",
		// The broker's own identity is the bootstrap admin credential.
		"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config="+strings.TrimPrefix(fmt.Sprintf(scramJAAS, "admin", "admin-secret"), "sasl.jaas.config="),
		"authorizer.class.name="+config.StandardAuthorizer,
		"super.users=User:admin",
	)
	out, err := storageCLI(t, "--config", props,
		"--add-scram", "SCRAM-SHA-512=[name=admin,password=admin-secret]",
		"--add-scram", `SCRAM-SHA-512=[name=alice,password=alice-secret,iterations=8192,salt="c2FsdHNhbHQ="]`)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "with 2 SCRAM credentials") {
		t.Fatalf("format output %q", out)
	}
	bootstrap := filepath.Join(dataDir, "__cluster_metadata", broker.BootstrapFile)
	if data, err := os.ReadFile(bootstrap); err != nil || bytes.Contains(data, []byte("secret")) {
		t.Fatalf("bootstrap file: %v (a password in it: %v)", err, bytes.Contains(data, []byte("secret")))
	}

	client := func(user, pass string) string {
		return properties(t, "security.protocol=SASL_SSL", "sasl.mechanism=SCRAM-SHA-512",
			fmt.Sprintf(scramJAAS, user, pass), "ssl.truststore.type=PEM", "ssl.truststore.location="+ca.truststore)
	}
	admin := client("admin", "admin-secret")
	// waitServing polls until the admin's credential works.
	waitServing := func(logs fmt.Stringer) {
		deadline := time.Now().Add(60 * time.Second)
		for {
			_, errOut, err := secureCLI(t, addr, admin, "", "topic", "list")
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("topic list as admin: %v %s\n%s", err, errOut, logs)
			}
			time.Sleep(50 * time.Millisecond) // polling the starting broker with a deadline
		}
	}

	stop, logs := serveNode(t, "--config", props)
	waitServing(logs)
	mustSecureCLI(t, addr, admin, "", "topic", "create", "phi", "--partitions", "1")
	wantCLIError(t, addr, client("admin", "wrong"), "", "SASL_AUTHENTICATION_FAILED", "topic", "list")
	if _, err := os.Stat(bootstrap + ".applied"); err != nil {
		t.Fatalf("bootstrap not marked applied: %v", err)
	}

	// alice's new password, through AlterUserScramCredentials.
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(ca.truststore)
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(pem)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DialTLSConfig(&tls.Config{RootCAs: pool}),
		kgo.SASL(scram.Auth{User: "admin", Pass: "admin-secret"}.AsSha512Mechanism()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	res, err := kadm.NewClient(cl).AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "alice", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "alice-new"}})
	cancel()
	cl.Close()
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	// Formatting again fails; --ignore-formatted does nothing.
	if _, err := storageCLI(t, "--config", props, "--add-scram", "SCRAM-SHA-512=[name=alice,password=alice-secret]"); err == nil || !strings.Contains(err.Error(), "is already formatted. Use --ignore-formatted") {
		t.Fatalf("formatting a formatted directory: %v", err)
	}
	if out, err := storageCLI(t, "--config", props, "--ignore-formatted", "--add-scram", "SCRAM-SHA-512=[name=alice,password=alice-secret]"); err != nil || !strings.Contains(out, "already formatted") {
		t.Fatalf("--ignore-formatted: %q, %v", out, err)
	}
	if _, err := os.Stat(bootstrap); !os.IsNotExist(err) {
		t.Fatalf("--ignore-formatted wrote a bootstrap file: %v", err)
	}

	_, logs = serveNode(t, "--config", props)
	waitServing(logs)
	mustSecureCLI(t, addr, client("alice", "alice-new"), "", "topic", "list")
	wantCLIError(t, addr, client("alice", "alice-secret"), "", "SASL_AUTHENTICATION_FAILED", "topic", "list")
	if out, _ := mustSecureCLI(t, addr, admin, "", "topic", "list"); !strings.Contains(out, "phi") {
		t.Fatalf("topic list after the restart:\n%s", out)
	}
}

// TestStorageFormatErrors checks the command's refusals: a bad
// --add-scram (Kafka's message), and --ignore-formatted on a fresh
// directory formats it.
func TestStorageFormatErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := storageCLI(t, "--data-dir", dir, "--add-scram", "SCRAM-SHA-512=[password=x]"); err == nil || !strings.Contains(err.Error(), "You must supply 'name' to add-scram") {
		t.Fatalf("no name: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "__cluster_metadata")); !os.IsNotExist(err) {
		t.Fatalf("a refused format wrote: %v", err)
	}
	if out, err := storageCLI(t, "--data-dir", dir, "--ignore-formatted"); err != nil || !strings.Contains(out, "with 0 SCRAM credentials") {
		t.Fatalf("--ignore-formatted on a fresh directory: %q, %v", out, err)
	}
	if _, err := storageCLI(t, "--data-dir", dir); err == nil {
		t.Fatal("formatted twice")
	}
}
