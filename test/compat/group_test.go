//go:build compat

package compat

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The consumer group checks: with each client, two consumers in one group
// share a topic of four partitions, each processes part of its partitions
// and commits, both leave, and a new consumer of the group must resume
// exactly at the committed offsets and read every remaining record once.
// See the programs for the details:
//
//	java/src/main/java/dev/skein/compat/GroupCheck.java  (group.protocol=classic and consumer)
//	python/group_check.py                               (confluent-kafka, group.protocol=classic and consumer)
//	node/group_check.js                                 (kafkajs)

func TestCompatGroupJavaClassic(t *testing.T) {
	java, jar := javaJar(t)
	runClient(t, "java kafka-clients group.protocol=classic", java, "-cp", jar, "dev.skein.compat.GroupCheck", "classic")
}

func TestCompatGroupJavaConsumer(t *testing.T) {
	java, jar := javaJar(t)
	runClient(t, "java kafka-clients group.protocol=consumer", java, "-cp", jar, "dev.skein.compat.GroupCheck", "consumer")
}

func TestCompatGroupPython(t *testing.T) {
	py := venvPython(t)
	t.Setenv("COMPAT_GROUP_PROTOCOL", "classic")
	runClient(t, "confluent-kafka group.protocol=classic", py, filepath.Join(compatDir, "python", "group_check.py"))
}

func TestCompatGroupPythonConsumer(t *testing.T) {
	py := venvPython(t)
	t.Setenv("COMPAT_GROUP_PROTOCOL", "consumer")
	runClient(t, "confluent-kafka group.protocol=consumer", py, filepath.Join(compatDir, "python", "group_check.py"))
}

func TestCompatGroupNode(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed (Node 18 or newer is needed)")
	}
	if _, err := os.Stat(filepath.Join(compatDir, "node", "node_modules", "kafkajs", "package.json")); err != nil {
		t.Fatalf("kafkajs is not installed in test/compat/node: %s", installHint)
	}
	runClient(t, "kafkajs group", node, filepath.Join(compatDir, "node", "group_check.js"))
}
