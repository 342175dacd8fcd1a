package cluster

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
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/skein-streaming/skein/test/cluster/clustertest"
)

// writeTLSFiles writes a CA (ca.pem) and a PEM keystore (broker.pem) for
// 127.0.0.1, usable as TLS server and client, into dir.
func writeTLSFiles(t *testing.T, dir string) (keystore, truststore string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Cluster CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "broker"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keystore, truststore = filepath.Join(dir, "broker.pem"), filepath.Join(dir, "ca.pem")
	data := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})...)
	if err := os.WriteFile(keystore, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(truststore, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return keystore, truststore
}

// TestSecureInterBrokerListener runs three nodes whose inter-broker
// listener REPLICATION is SASL_SSL with SCRAM-SHA-512, configured as for
// Apache Kafka, next to a PLAINTEXT client listener. The brokers' SCRAM
// credential is created through the client listener, as an operator does
// before the brokers replicate. acks=all produces to a topic with
// min.insync.replicas=3 succeed only when both followers of each
// partition replicate over REPLICATION; every record is then consumed
// back once, in order.
func TestSecureInterBrokerListener(t *testing.T) {
	keystore, truststore := writeTLSFiles(t, t.TempDir())
	var mu sync.Mutex
	ports := map[int32]string{}
	replicationAddr := func(n *clustertest.Node) string {
		mu.Lock()
		defer mu.Unlock()
		if a, ok := ports[n.ID]; ok {
			return a
		}
		p, err := clustertest.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		ports[n.ID] = net.JoinHostPort("127.0.0.1", fmt.Sprint(p))
		return ports[n.ID]
	}
	c := startCluster(t, clustertest.Options{
		Nodes: 3,
		Settings: map[string]string{
			"listener.security.protocol.map":                           "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,REPLICATION:SASL_SSL",
			"inter.broker.listener.name":                               "REPLICATION",
			"sasl.mechanism.inter.broker.protocol":                     "SCRAM-SHA-512",
			"listener.name.replication.sasl.enabled.mechanisms":        "SCRAM-SHA-512",
			"listener.name.replication.ssl.keystore.location":          keystore,
			"listener.name.replication.ssl.truststore.location":        truststore,
			"listener.name.replication.scram-sha-512.sasl.jaas.config": `org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="broker-secret";`,
		},
		NodeSettings: func(n *clustertest.Node) map[string]string {
			repl := "REPLICATION://" + replicationAddr(n)
			return map[string]string{
				"listeners":            "PLAINTEXT://" + n.BrokerAddr + ",CONTROLLER://" + n.ControllerAddr + "," + repl,
				"advertised.listeners": "PLAINTEXT://" + n.AdvertisedAddr + ",CONTROLLER://" + n.VoterAddr + "," + repl,
			}
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Bootstrap()...), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "broker", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "broker-secret"}})
	if err != nil || res["broker"].Err != nil {
		t.Fatalf("creating the brokers' SCRAM credential: %v %v", err, res["broker"].Err)
	}
	const topic, partitions, perPartition = "secure-replication", 3, 100
	ct, err := adm.CreateTopic(ctx, partitions, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("3")}, topic)
	if err != nil || ct.Err != nil {
		t.Fatalf("create topic: %v %v", err, ct.Err)
	}
	var want [partitions][]string
	for p := range int32(partitions) {
		for i := range perPartition {
			v := fmt.Sprintf("p%d-r%d", p, i)
			want[p] = append(want[p], v)
			// Retries cover the moments before the followers, having
			// authenticated, are back in the ISR.
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: p, Value: []byte(v)}).FirstErr(); err != nil {
				t.Fatalf("acks=all produce %s: %v", v, err)
			}
		}
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(c.Bootstrap()...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	var got [partitions][]string
	for n := 0; n < partitions*perPartition; {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume after %d records: %v", n, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got[r.Partition] = append(got[r.Partition], string(r.Value))
			n++
		})
	}
	for p := range partitions {
		if strings.Join(got[p], ",") != strings.Join(want[p], ",") {
			t.Fatalf("partition %d consumed %d records, not the %d produced in order", p, len(got[p]), len(want[p]))
		}
	}
	// Every replica is in sync: the followers replicate over SASL_SSL.
	td, err := adm.ListTopics(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for _, pd := range td[topic].Partitions {
		if len(pd.ISR) != 3 {
			t.Fatalf("partition %d isr %v", pd.Partition, pd.ISR)
		}
	}
}
