//go:build compat

package compat

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/skein-streaming/skein/internal/jwttest"
)

// The OAUTHBEARER checks: skein serve runs with a SASL_PLAINTEXT and a
// SASL_SSL listener that validate OAUTHBEARER tokens against a JWKS file
// the test writes (settings spelled as in a Kafka server.properties); the
// test signs a good and an expired token. Each client authenticates with
// the good token over both listeners and produces and consumes, then must
// fail with an authentication error (the broker's
// {"status":"invalid_token"}) with the expired one. See the programs:
//
//	java/src/main/java/dev/skein/compat/OAuthCheck.java
//	python/oauth_check.py

const oauthIssuer = "https://idp.compat.test/realms/skein"

// oauthEnv is a running OAUTHBEARER broker and the files the clients use.
type oauthEnv struct {
	plainAddr, saslPlainAddr, saslSSLAddr string
	caFile                                string
	goodToken, expiredToken               string // token files
	logPath                               string
}

// oauthBrokerTLS writes a CA and a broker keystore (certificate chain and key,
// PEM) for 127.0.0.1 into dir.
func oauthBrokerTLS(t *testing.T, dir string) (keystore, ca string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Skein compat CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	keystore, ca = filepath.Join(dir, "broker.pem"), filepath.Join(dir, "ca.pem")
	ks := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})...)
	if err := os.WriteFile(keystore, ks, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		t.Fatal(err)
	}
	return keystore, ca
}

// startOAuthBroker signs the tokens, writes the JWKS and a
// server.properties, and runs skein serve until the test ends.
func startOAuthBroker(t *testing.T) *oauthEnv {
	t.Helper()
	bin := skeinBinary(t)
	dir := t.TempDir()
	is := jwttest.New()
	if err := is.AddRSA("compat-rsa", 2048); err != nil {
		t.Fatal(err)
	}
	jwks := filepath.Join(dir, "jwks.json")
	if err := is.WriteJWKS(jwks); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	env := &oauthEnv{goodToken: filepath.Join(dir, "good.jwt"), expiredToken: filepath.Join(dir, "expired.jwt")}
	good, err := is.Sign("compat-rsa", jose.RS256, jwttest.Claims("compat-client", oauthIssuer, "skein", now, 2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	expired, err := is.Sign("compat-rsa", jose.RS256, jwttest.Claims("compat-client", oauthIssuer, "skein", now.Add(-3*time.Hour), time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(env.goodToken, []byte(good), 0o600)
	os.WriteFile(env.expiredToken, []byte(expired), 0o600)
	keystore, ca := oauthBrokerTLS(t, dir)
	env.caFile = ca

	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		var ports [3]int
		for i := range ports {
			if ports[i], err = freePort(); err != nil {
				t.Fatal(err)
			}
		}
		env.plainAddr = fmt.Sprintf("127.0.0.1:%d", ports[0])
		env.saslPlainAddr = fmt.Sprintf("127.0.0.1:%d", ports[1])
		env.saslSSLAddr = fmt.Sprintf("127.0.0.1:%d", ports[2])
		lines := []string{
			fmt.Sprintf("listeners=PLAINTEXT://%s,SASL_PLAINTEXT://%s,SASL_SSL://%s", env.plainAddr, env.saslPlainAddr, env.saslSSLAddr),
			"log.dirs=" + filepath.Join(dir, fmt.Sprintf("data-%d", attempt)),
			"skein.admin.address=",
			"skein.registry.address=",
			"sasl.enabled.mechanisms=OAUTHBEARER",
			"sasl.oauthbearer.jwks.endpoint.url=file://" + jwks,
			"sasl.oauthbearer.expected.audience=skein",
			"sasl.oauthbearer.expected.issuer=" + oauthIssuer,
			"listener.name.sasl_ssl.ssl.keystore.location=" + keystore,
		}
		for _, l := range []string{"sasl_plaintext", "sasl_ssl"} {
			lines = append(lines,
				"listener.name."+l+".oauthbearer.sasl.server.callback.handler.class=org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler",
				"listener.name."+l+".oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required ;")
		}
		props := filepath.Join(dir, "server.properties")
		if err := os.WriteFile(props, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		env.logPath = filepath.Join(dir, fmt.Sprintf("skein-%d.log", attempt))
		lastErr = runOAuthSkein(t, bin, props, env)
		if lastErr == nil {
			return env
		}
		if !strings.Contains(lastErr.Error(), "address already in use") {
			break
		}
	}
	t.Fatal(lastErr)
	return nil
}

// runOAuthSkein starts skein serve, waits until its PLAINTEXT listener
// answers, and stops it (SIGTERM, then SIGKILL) when the test ends.
func runOAuthSkein(t *testing.T, bin, props string, env *oauthEnv) error {
	b, err := startSkein(env.logPath, bin, "serve", "--config", props, "--log-level", "info")
	if err != nil {
		return err
	}
	cmd, done := b.cmd, b.done
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(brokerStopTimeout):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
			t.Errorf("skein did not exit within %v of SIGTERM; killed", brokerStopTimeout)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), brokerStartTimeout)
	defer cancel()
	for {
		select {
		case <-done:
			data, _ := os.ReadFile(env.logPath)
			return fmt.Errorf("skein exited during start-up: %v\n%s", b.waitErr, data)
		default:
		}
		if err = probeMetadata(ctx, env.plainAddr); err == nil {
			t.Cleanup(stop)
			return nil
		}
		select {
		case <-ctx.Done():
			stop()
			return fmt.Errorf("skein not ready after %v: %v", brokerStartTimeout, err)
		case <-done:
		case <-time.After(50 * time.Millisecond): // poll interval
		}
	}
}

// runOAuthClient runs a check program against the OAuth broker (see
// runProgramLogging).
func runOAuthClient(t *testing.T, env *oauthEnv, name string, argv ...string) {
	t.Helper()
	runProgramLogging(t, name, argv, env.logPath)
}

func TestCompatOAuthJava(t *testing.T) {
	java, jar := javaJar(t)
	env := startOAuthBroker(t)
	good, expired := "file://"+env.goodToken, "file://"+env.expiredToken
	runOAuthClient(t, env, "java kafka-clients OAUTHBEARER", java,
		"-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls="+good+","+expired,
		"-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
		"-cp", jar, "dev.skein.compat.OAuthCheck",
		env.saslPlainAddr, env.saslSSLAddr, env.caFile, good, expired, topicPrefix())
}

func TestCompatOAuthPython(t *testing.T) {
	py := venvPython(t)
	env := startOAuthBroker(t)
	runOAuthClient(t, env, "confluent-kafka OAUTHBEARER", py, filepath.Join(compatDir, "python", "oauth_check.py"),
		env.saslPlainAddr, env.saslSSLAddr, env.caFile, env.goodToken, env.expiredToken, topicPrefix())
}
