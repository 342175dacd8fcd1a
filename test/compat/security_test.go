//go:build compat

package compat

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// The security checks: each client connects to a broker of its own with
// three listeners,
//
//	PLAINTEXT  no authentication (User:ANONYMOUS, which no ACL names)
//	SASL_SSL   TLS and SASL/SCRAM-SHA-512, sessions of reauthMs (KIP-368)
//	SSL        TLS with ssl.client.auth=required (mTLS)
//
// and ACLs on (StandardAuthorizer, super.users=User:admin). The test
// generates a CA, the broker's certificate for 127.0.0.1/localhost and
// client certificates into a temporary directory, creates the SCRAM
// credentials with AlterUserScramCredentials (kadm), and gives each client
// principal ACLs for its own topic and group only. The client programs
//
//	java/src/main/java/dev/skein/compat/SecurityCheck.java
//	python/security_check.py
//
// then produce and consume (in a group) a few hundred records over
// SASL_SSL and over SSL, verify them, and check what the broker takes them
// for: they see only their own topic, and a topic whose ACLs name
// User:ANONYMOUS and the unmapped certificate DN refuses them. A producer
// running for several session lifetimes must re-authenticate on its
// connections. Then each rejection: a wrong password, an unknown user, a
// mechanism the listener does not enable, an untrusted client certificate,
// none at all, TLS to the PLAINTEXT port and plaintext to the SSL port;
// each program asserts the error its client reports. After each
// program the test checks the broker: still running, serving a good client
// on every listener at once, and its open connections
// (skein_network_connections) back to zero.

const (
	// securityRecords is how many records each exchange produces and
	// consumes.
	securityRecords = 500
	// securityProgramTimeout bounds one check program; the programs bound
	// each client operation far below it.
	securityProgramTimeout = 5 * time.Minute
	// healthyWithin bounds a good client's first request after a
	// rejection.
	healthyWithin = 10 * time.Second
	// principalRules is the broker's ssl.principal.mapping.rules: client
	// certificates of the test are CN=<name>,OU=compat,O=skein and map to
	// the lower-cased CN.
	principalRules = "RULE:^CN=([^,]+),OU=compat,O=skein$/$1/L,DEFAULT"
	// reauthMs is the SASL_SSL listener's connections.max.reauth.ms:
	// every SASL session lasts that long (KIP-368), and clients that run
	// longer re-authenticate.
	reauthMs = 4000
	// scramFailed is Kafka's SaslAuthenticate error message for a failed
	// SCRAM-SHA-512 exchange.
	scramFailed = "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512"
)

// securityClient is one client's check program.
type securityClient struct {
	name string // java, python: in principals and topic names
	// cn is the common name of the client's certificate; the principal
	// mapping rule lower-cases it.
	cn   string
	argv func(mode, bootstrap string, opts []string) []string
}

func javaSecurityClient(t *testing.T) securityClient {
	java, jar := javaJar(t)
	return securityClient{name: "java", cn: "Java-MTLS", argv: func(mode, bootstrap string, opts []string) []string {
		return append([]string{java, "-cp", jar, "dev.skein.compat.SecurityCheck", mode, bootstrap}, opts...)
	}}
}

func pythonSecurityClient(t *testing.T) securityClient {
	py := venvPython(t)
	return securityClient{name: "python", cn: "Python-MTLS", argv: func(mode, bootstrap string, opts []string) []string {
		return append([]string{py, filepath.Join(compatDir, "python", "security_check.py"), mode, bootstrap}, opts...)
	}}
}

func TestCompatSecurityJava(t *testing.T) {
	runSecurityChecks(t, javaSecurityClient(t))
}

func TestCompatSecurityPython(t *testing.T) {
	runSecurityChecks(t, pythonSecurityClient(t))
}

// securityCase is one run of a check program.
type securityCase struct {
	name     string
	listener string // PLAINTEXT, SASL_SSL or SSL
	mode     string
	opts     []string
	// clients limits the case to some clients (all when empty).
	clients []string
	// brokerLog is a line the broker logs for this case.
	brokerLog string
	// protocolError is set when the broker counts the rejection in
	// skein_network_protocol_errors_total.
	protocolError bool
}

func runSecurityChecks(t *testing.T, cl securityClient) {
	if os.Getenv("SKEIN_COMPAT_BOOTSTRAP") != "" {
		t.Skip("the security checks configure a broker of their own; SKEIN_COMPAT_BOOTSTRAP is not used")
	}
	pki := newSecurityPKI(t)
	mtlsName := cl.name + "-mtls"
	if strings.ToLower(cl.cn) != mtlsName {
		t.Fatalf("certificate CN %s does not map to %s", cl.cn, mtlsName)
	}
	pki.issue(t, "admin", "CN=admin", pki.ca)
	pki.issue(t, cl.name, "CN="+cl.cn, pki.ca)
	// The same subject from a CA the broker does not trust.
	pki.issue(t, cl.name+"-untrusted", "CN="+cl.cn, pki.otherCA)

	sb := startSecurityBroker(t, pki)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	prefix := topicPrefix() + "-" + cl.name
	scramUser, scramPass := cl.name+"-scram", securitySecret()
	sb.adminPass = securitySecret()
	sb.health = prefix + "-health"
	scramTopic, mtlsTopic, denied, reauthTopic := prefix+"-scram", prefix+"-mtls", prefix+"-denied", prefix+"-reauth"
	scramGroup, mtlsGroup := scramTopic+"-group", mtlsTopic+"-group"
	unmappedDN := "User:CN=" + cl.cn + ",OU=compat,O=skein"

	adm := kadm.NewClient(sb.client(t, "SSL"))
	altered, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: "admin", Mechanism: kadm.ScramSha512, Iterations: 8192, Password: sb.adminPass},
		{User: scramUser, Mechanism: kadm.ScramSha512, Iterations: 8192, Password: scramPass},
	})
	if err == nil {
		err = altered.Error()
	}
	if err != nil {
		t.Fatalf("AlterUserScramCredentials: %v", err)
	}
	for topic, partitions := range map[string]int32{scramTopic: 3, mtlsTopic: 3, denied: 1, reauthTopic: 1, sb.health: 1} {
		if _, err := adm.CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
			t.Fatalf("creating %s: %v", topic, err)
		}
	}
	for _, b := range []*kadm.ACLBuilder{
		kadm.NewACLs().Allow("User:"+scramUser).Topics(scramTopic).Operations(kadm.OpRead, kadm.OpWrite),
		kadm.NewACLs().Allow("User:" + scramUser).Topics(reauthTopic).Operations(kadm.OpWrite),
		kadm.NewACLs().Allow("User:" + scramUser).Groups(scramGroup).Operations(kadm.OpRead),
		kadm.NewACLs().Allow("User:"+mtlsName).Topics(mtlsTopic).Operations(kadm.OpRead, kadm.OpWrite),
		kadm.NewACLs().Allow("User:" + mtlsName).Groups(mtlsGroup).Operations(kadm.OpRead),
		// What the broker would take the clients for if it kept the
		// TLS identity on SASL_SSL or ignored the mapping rules: these
		// may use the denied topic, the clients must not.
		kadm.NewACLs().Allow("User:ANONYMOUS", unmappedDN).Topics(denied).Operations(kadm.OpAll),
	} {
		res, err := adm.CreateACLs(ctx, b)
		if err == nil {
			for _, r := range res {
				if r.Err != nil {
					err = fmt.Errorf("%s %s %v: %w", r.Principal, r.Name, r.Operation, r.Err)
				}
			}
		}
		if err != nil {
			t.Fatalf("CreateAcls: %v", err)
		}
	}
	adm.Close()

	records := fmt.Sprint(securityRecords)
	ca := "ca=" + pki.caFile
	cases := []securityCase{
		{name: "SASL_SSL SCRAM-SHA-512", listener: "SASL_SSL", mode: "scram",
			opts: []string{ca, "user=" + scramUser, "password=" + scramPass, "topic=" + scramTopic, "group=" + scramGroup, "denied=" + denied, "visible=" + scramTopic + "," + reauthTopic, "records=" + records}},
		{name: "SSL mTLS", listener: "SSL", mode: "mtls",
			opts: []string{ca, "cert=" + pki.certFile(cl.name), "key=" + pki.keyFile(cl.name), "topic=" + mtlsTopic, "group=" + mtlsGroup, "denied=" + denied, "visible=" + mtlsTopic, "records=" + records}},
		{name: "SASL_SSL re-authentication", listener: "SASL_SSL", mode: "scram-reauth",
			opts: []string{ca, "user=" + scramUser, "password=" + scramPass, "topic=" + reauthTopic, fmt.Sprintf("seconds=%d", 3*reauthMs/1000)}},
		{name: "wrong password", listener: "SASL_SSL", mode: "scram-rejected",
			opts: []string{ca, "user=" + scramUser, "password=wrong-" + scramPass}, brokerLog: "SASL authentication failed"},
		{name: "unknown user", listener: "SASL_SSL", mode: "scram-rejected",
			opts: []string{ca, "user=nobody-" + cl.name, "password=" + scramPass}, brokerLog: "SASL authentication failed"},
		{name: "mechanism not enabled", listener: "SASL_SSL", mode: "mechanism-rejected",
			opts: []string{ca, "user=" + scramUser, "password=" + scramPass, "mechanism=SCRAM-SHA-256", "enabled=SCRAM-SHA-512"}},
		{name: "untrusted client certificate", listener: "SSL", mode: "mtls-rejected",
			opts:      []string{ca, "cert=" + pki.certFile(cl.name+"-untrusted"), "key=" + pki.keyFile(cl.name+"-untrusted"), "alert=unknown_ca"},
			brokerLog: "certificate signed by unknown authority", protocolError: true},
		{name: "untrusted client certificate TLSv1.2", listener: "SSL", mode: "mtls-rejected", clients: []string{"java"},
			opts:      []string{ca, "cert=" + pki.certFile(cl.name+"-untrusted"), "key=" + pki.keyFile(cl.name+"-untrusted"), "alert=unknown_ca", "protocol=TLSv1.2"},
			brokerLog: "certificate signed by unknown authority", protocolError: true},
		{name: "no client certificate", listener: "SSL", mode: "mtls-rejected",
			opts:      []string{ca, "alert=certificate_required"},
			brokerLog: "didn't provide a certificate", protocolError: true},
		{name: "TLS to the PLAINTEXT port", listener: "PLAINTEXT", mode: "tls-to-plaintext",
			opts: []string{ca}, protocolError: true},
		{name: "plaintext to the SSL port", listener: "SSL", mode: "plaintext-to-tls",
			brokerLog: "first record does not look like a TLS handshake", protocolError: true},
	}
	for _, c := range cases {
		if len(c.clients) > 0 && !slices.Contains(c.clients, cl.name) {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			before := sb.scrape(t)
			logBefore := sb.logCount(c.brokerLog)
			start := time.Now()
			err := runSecurityProgram(t, sb, cl.name+" "+c.name, cl.argv(c.mode, sb.addrs[c.listener], c.opts))
			if err != nil {
				t.Fatalf("%s %s: %v\n--- tail of the skein log (%s) ---\n%s", cl.name, c.name, err, sb.logPath, sb.logTail(25))
			}
			took := time.Since(start)
			sb.checkAlive(t)
			// The program's connections reached the broker, and are all
			// gone now that it exited.
			after := sb.waitNoConnections(t)
			if got := after.value("skein_network_connections_accepted_total") - before.value("skein_network_connections_accepted_total"); got < 1 {
				t.Errorf("the broker accepted no connection from the program")
			}
			if c.protocolError {
				if got := after.value("skein_network_protocol_errors_total") - before.value("skein_network_protocol_errors_total"); got < 1 {
					t.Errorf("skein_network_protocol_errors_total did not move")
				}
			}
			if c.brokerLog != "" {
				if n := sb.logCount(c.brokerLog) - logBefore; n < 1 {
					t.Errorf("the broker did not log %q", c.brokerLog)
				}
			}
			sb.checkServes(t)
			sb.waitNoConnections(t)
			// Nor goroutines: a leak per rejected connection (hundreds
			// with librdkafka's reconnects) would show.
			goroutines := sb.waitGoroutines(t, before.value("go_goroutines")+goroutineSlack)
			t.Logf("%s: program took %v; %v connections accepted; the broker serves and holds no connection; goroutines %v before, %v after",
				c.name, took.Round(time.Millisecond), after.value("skein_network_connections_accepted_total")-before.value("skein_network_connections_accepted_total"),
				before.value("go_goroutines"), goroutines)
		})
	}
	// Secrets never reach the broker's log.
	logText, err := os.ReadFile(sb.logPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{scramPass, sb.adminPass} {
		if strings.Contains(string(logText), secret) {
			t.Errorf("the broker log contains a SCRAM password")
		}
	}
}

func securitySecret() string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// securityPKI is a test CA, a second CA the broker does not trust, and the
// certificates they issue, as PEM files in one directory.
type securityPKI struct {
	dir     string
	ca      *securityCA
	otherCA *securityCA
	// caFile is the trusted CA certificate (ca.pem); serverFile the
	// broker's certificate and key (server.pem).
	caFile     string
	serverFile string
	pool       *x509.CertPool
	certs      map[string]tls.Certificate
}

type securityCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// nextSecuritySerial returns a random certificate serial number.
func nextSecuritySerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		panic(err)
	}
	return n
}

func newSecurityCA(t *testing.T, name string) *securityCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: nextSecuritySerial(), Subject: pkix.Name{CommonName: name, Organization: []string{"skein"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &securityCA{cert: cert, key: key}
}

func securityCertPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func (ca *securityCA) sign(t *testing.T, tmpl *x509.Certificate) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = nextSecuritySerial()
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return securityCertPEM(der), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})
}

func newSecurityPKI(t *testing.T) *securityPKI {
	t.Helper()
	// The untrusted CA is an impostor with the trusted CA's name: clients
	// that pick their certificate by the issuers the broker names (the
	// Java client) present its certificates too, and the broker's
	// verification must catch them.
	p := &securityPKI{dir: t.TempDir(), ca: newSecurityCA(t, "Skein compat CA"), otherCA: newSecurityCA(t, "Skein compat CA"), certs: map[string]tls.Certificate{}}
	p.pool = x509.NewCertPool()
	p.pool.AddCert(p.ca.cert)
	p.caFile = filepath.Join(p.dir, "ca.pem")
	writeSecurityFile(t, p.caFile, securityCertPEM(p.ca.cert.Raw))
	certPEM, keyPEM := p.ca.sign(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost", Organization: []string{"skein"}},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	p.serverFile = filepath.Join(p.dir, "server.pem")
	writeSecurityFile(t, p.serverFile, append(certPEM, keyPEM...))
	return p
}

// issue writes <name>.crt and <name>.key: a client certificate for
// cn,OU=compat,O=skein from ca.
func (p *securityPKI) issue(t *testing.T, name, cn string, ca *securityCA) {
	t.Helper()
	certPEM, keyPEM := ca.sign(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: strings.TrimPrefix(cn, "CN="), OrganizationalUnit: []string{"compat"}, Organization: []string{"skein"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	writeSecurityFile(t, p.certFile(name), certPEM)
	writeSecurityFile(t, p.keyFile(name), keyPEM)
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	p.certs[name] = pair
}

func (p *securityPKI) certFile(name string) string { return filepath.Join(p.dir, name+".crt") }
func (p *securityPKI) keyFile(name string) string  { return filepath.Join(p.dir, name+".key") }

func writeSecurityFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// securityBroker is a skein serve with PLAINTEXT, SASL_SSL and SSL
// listeners and ACLs on.
type securityBroker struct {
	*broker
	pki        *securityPKI
	addrs      map[string]string // listener name → host:port
	metricsURL string
	adminPass  string // the SCRAM password of User:admin
	health     string // the topic the health checks produce to
}

// skeinBinary returns the skein binary: SKEIN_COMPAT_SKEIN, or one built
// into the test's temporary directory (the build cache makes later
// builds quick).
func skeinBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("SKEIN_COMPAT_SKEIN"); bin != "" {
		return bin
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "skein")
	build := exec.Command("go", "build", "-o", bin, "./cmd/skein")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/skein: %v\n%s", err, out)
	}
	return bin
}

func startSecurityBroker(t *testing.T, pki *securityPKI) *securityBroker {
	t.Helper()
	bin := skeinBinary(t)
	tmp := t.TempDir()
	var lastErr error
	// A free port may be taken between finding it and skein binding it:
	// retry with new ports.
	for attempt := 0; attempt < 3; attempt++ {
		sb, err := launchSecurityBroker(t, bin, tmp, pki, attempt)
		if err == nil {
			t.Cleanup(func() {
				if err := sb.stop(); err != nil {
					t.Errorf("stopping skein: %v", err)
				}
			})
			return sb
		}
		lastErr = err
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	t.Fatalf("starting skein serve: %v", lastErr)
	return nil
}

func launchSecurityBroker(t *testing.T, bin, tmp string, pki *securityPKI, attempt int) (*securityBroker, error) {
	ports := make([]int, 4)
	for i := range ports {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		ports[i] = p
	}
	sb := &securityBroker{pki: pki, addrs: map[string]string{
		"PLAINTEXT": fmt.Sprintf("127.0.0.1:%d", ports[0]),
		"SASL_SSL":  fmt.Sprintf("127.0.0.1:%d", ports[1]),
		"SSL":       fmt.Sprintf("127.0.0.1:%d", ports[2]),
	}, metricsURL: fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[3])}
	dir := filepath.Join(tmp, fmt.Sprint(attempt))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	props := strings.Join([]string{
		fmt.Sprintf("listeners=PLAINTEXT://%s,SASL_SSL://%s,SSL://%s", sb.addrs["PLAINTEXT"], sb.addrs["SASL_SSL"], sb.addrs["SSL"]),
		"log.dirs=" + filepath.Join(dir, "data"),
		fmt.Sprintf("skein.admin.address=127.0.0.1:%d", ports[3]),
		"skein.registry.address=",
		"group.initial.rebalance.delay.ms=0",
		"ssl.keystore.type=PEM",
		"ssl.keystore.location=" + pki.serverFile,
		"ssl.truststore.type=PEM",
		"ssl.truststore.location=" + pki.caFile,
		"listener.name.ssl.ssl.client.auth=required",
		"ssl.principal.mapping.rules=" + principalRules,
		"sasl.enabled.mechanisms=SCRAM-SHA-512",
		fmt.Sprintf("listener.name.sasl_ssl.connections.max.reauth.ms=%d", reauthMs),
		"authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
		"super.users=User:admin",
	}, "\n") + "\n"
	propsFile := filepath.Join(dir, "server.properties")
	if err := os.WriteFile(propsFile, []byte(props), 0o600); err != nil {
		return nil, err
	}
	b, err := startSkein(filepath.Join(dir, "skein.log"), bin, "serve", "--config", propsFile)
	if err != nil {
		return nil, err
	}
	b.addr, b.tmp = sb.addrs["PLAINTEXT"], dir
	sb.broker = b
	if err := sb.waitSecurityReady(); err != nil {
		sb.kill()
		return nil, fmt.Errorf("skein serve: %v\n--- skein log ---\n%s", err, sb.logTail(60))
	}
	t.Logf("skein serve with %s", strings.ReplaceAll(strings.TrimSpace(props), "\n", " "))
	return sb, nil
}

// waitSecurityReady polls until the PLAINTEXT listener answers a Metadata
// request and /metrics answers.
func (sb *securityBroker) waitSecurityReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), brokerStartTimeout)
	defer cancel()
	for {
		select {
		case <-sb.done:
			return fmt.Errorf("exited during start-up: %v", sb.waitErr)
		default:
		}
		err := probeMetadata(ctx, sb.addr)
		if err == nil {
			var resp *http.Response
			if resp, err = http.Get(sb.metricsURL); err == nil {
				resp.Body.Close()
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready after %v: %v", brokerStartTimeout, err)
		case <-sb.done:
			return fmt.Errorf("exited during start-up: %v", sb.waitErr)
		case <-time.After(50 * time.Millisecond): // poll interval
		}
	}
}

// client returns a franz-go client on a listener as User:admin (a super
// user): the admin certificate on SSL, SCRAM on SASL_SSL; User:ANONYMOUS
// on PLAINTEXT.
func (sb *securityBroker) client(t *testing.T, listener string) *kgo.Client {
	t.Helper()
	opts := []kgo.Opt{
		kgo.SeedBrokers(sb.addrs[listener]),
		kgo.DialTimeout(5 * time.Second),
		kgo.RetryTimeout(healthyWithin),
		kgo.RequestRetries(2),
		kgo.DefaultProduceTopic(sb.health),
	}
	switch listener {
	case "SSL":
		cert := sb.pki.certs["admin"]
		opts = append(opts, kgo.DialTLSConfig(&tls.Config{RootCAs: sb.pki.pool, Certificates: []tls.Certificate{cert}}))
	case "SASL_SSL":
		opts = append(opts, kgo.DialTLSConfig(&tls.Config{RootCAs: sb.pki.pool}),
			kgo.SASL(scram.Auth{User: "admin", Pass: sb.adminPass}.AsSha512Mechanism()))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// checkServes has a good client use each listener right away: produce a
// record as User:admin on SSL and SASL_SSL, a Metadata request as
// User:ANONYMOUS on PLAINTEXT.
func (sb *securityBroker) checkServes(t *testing.T) {
	t.Helper()
	for _, listener := range []string{"PLAINTEXT", "SASL_SSL", "SSL"} {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), healthyWithin)
		cl := sb.client(t, listener)
		var err error
		if listener == "PLAINTEXT" {
			var resp *kmsg.MetadataResponse
			resp, err = kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
			if err == nil && len(resp.Brokers) == 0 {
				err = fmt.Errorf("metadata lists no broker")
			}
		} else {
			err = cl.ProduceSync(ctx, &kgo.Record{Value: []byte("health check on " + listener)}).FirstErr()
		}
		cl.Close()
		cancel()
		if err != nil {
			t.Fatalf("a good client on %s failed after %v: %v\n--- tail of the skein log ---\n%s", listener, time.Since(start).Round(time.Millisecond), err, sb.logTail(40))
		}
	}
}

func (sb *securityBroker) checkAlive(t *testing.T) {
	t.Helper()
	select {
	case <-sb.done:
		t.Fatalf("skein exited: %v\n--- tail of the skein log ---\n%s", sb.waitErr, sb.logTail(60))
	default:
	}
}

// securityMetrics is a parsed /metrics page.
type securityMetrics map[string]float64

// value sums the samples of a metric over its label sets.
func (m securityMetrics) value(name string) float64 { return m[name] }

func (sb *securityBroker) scrape(t *testing.T) securityMetrics {
	t.Helper()
	resp, err := http.Get(sb.metricsURL)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	out := securityMetrics{}
	for name, mf := range mfs {
		for _, m := range mf.GetMetric() {
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			out[name] += v
			for _, l := range m.GetLabel() {
				if l.GetName() == "listener" {
					out[name+"/"+l.GetValue()] = v
				}
			}
		}
	}
	return out
}

// waitNoConnections polls /metrics until no listener has an open
// connection (nothing else connects to this broker between the checks).
func (sb *securityBroker) waitNoConnections(t *testing.T) securityMetrics {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		m := sb.scrape(t)
		if m.value("skein_network_connections") == 0 {
			return m
		}
		if time.Now().After(deadline) {
			var open []string
			for k, v := range m {
				if strings.HasPrefix(k, "skein_network_connections/") && v != 0 {
					open = append(open, fmt.Sprintf("%s=%v", strings.TrimPrefix(k, "skein_network_connections/"), v))
				}
			}
			sort.Strings(open)
			t.Fatalf("connections still open 30s after the clients closed: %s", strings.Join(open, " "))
		}
		time.Sleep(50 * time.Millisecond) // poll interval
	}
}

// goroutineSlack is how many more goroutines than before a check the
// broker may run after it: timers and background work come and go.
const goroutineSlack = 25

// waitGoroutines polls /metrics until go_goroutines is at most max and
// returns it.
func (sb *securityBroker) waitGoroutines(t *testing.T, max float64) float64 {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		n := sb.scrape(t).value("go_goroutines")
		if n <= max {
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("the broker runs %v goroutines 30s after the check, more than %v", n, max)
		}
		time.Sleep(50 * time.Millisecond) // poll interval
	}
}

// logCount counts the lines of the broker's log that contain s.
func (sb *securityBroker) logCount(s string) int {
	if s == "" {
		return 0
	}
	data, err := os.ReadFile(sb.logPath)
	if err != nil {
		return 0
	}
	return strings.Count(string(data), s)
}

// runSecurityProgram runs a check program with its output in the test log
// and returns its error.
func runSecurityProgram(t *testing.T, sb *securityBroker, name string, argv []string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), securityProgramTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = compatDir
	out := &lineLogger{t: t}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	t.Logf("%s: %s", name, strings.Join(cmd.Args, " "))
	clientsMu.Lock()
	err := cmd.Start()
	if err == nil {
		clients[cmd.Process.Pid] = true
	}
	clientsMu.Unlock()
	if err == nil {
		err = cmd.Wait()
		clientsMu.Lock()
		delete(clients, cmd.Process.Pid)
		clientsMu.Unlock()
	}
	out.flush()
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("timed out after %v", securityProgramTimeout)
	}
	return err
}
