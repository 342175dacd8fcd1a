package config

import (
	"strings"
	"testing"
)

// stockServerProperties is the settings part of the server.properties that
// ships with Kafka 4.x for a combined KRaft node (comments shortened).
const stockServerProperties = `
############################# Server Basics #############################
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=localhost:9093

############################# Socket Server Settings #############################
listeners=PLAINTEXT://:9092,CONTROLLER://:9093
inter.broker.listener.name=PLAINTEXT
advertised.listeners=PLAINTEXT://localhost:9092,CONTROLLER://localhost:9093
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
num.network.threads=3
num.io.threads=8
socket.send.buffer.bytes=102400
socket.receive.buffer.bytes=102400
socket.request.max.bytes=104857600

############################# Log Basics #############################
log.dirs=/tmp/kraft-combined-logs
num.partitions=1
num.recovery.threads.per.data.dir=1

############################# Internal Topic Settings  #############################
offsets.topic.replication.factor=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1

############################# Log Retention Policy #############################
log.retention.hours=168
#log.retention.bytes=1073741824
log.segment.bytes=1073741824
log.retention.check.interval.ms=300000
`

// TestStockServerProperties checks that Kafka's own example configuration
// loads unchanged, so users can point Skein at the file they already have.
func TestStockServerProperties(t *testing.T) {
	values, err := LoadBroker(strings.NewReader(stockServerProperties), "server.properties")
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewResolver(Layers{Static: values})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Broker().List(LogDirs); len(got) != 1 || got[0] != "/tmp/kraft-combined-logs" {
		t.Errorf("log.dirs = %v", got)
	}
	if r.Broker().Int(BrokerID) != 1 {
		t.Errorf("broker.id = %d", r.Broker().Int(BrokerID))
	}
}
