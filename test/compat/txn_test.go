//go:build compat

package compat

import (
	"path/filepath"
	"testing"
)

// The transaction checks: with each client, a consume-transform-produce
// loop in a group with isolation.level=read_committed commits its consumed
// offsets in each transaction (sendOffsetsToTransaction) and aborts every
// tenth transaction, rewinding to the committed offsets; the output must
// hold exactly one copy of every input record and nothing of an aborted
// transaction, and the group's offsets must move only with commits. See
// the programs for the details:
//
//	java/src/main/java/dev/skein/compat/TxnCheck.java
//	python/txn_check.py

func TestCompatTxnJava(t *testing.T) {
	java, jar := javaJar(t)
	// Client INFO logs (every config dump) would drown the check's output.
	runClient(t, "java kafka-clients transactions", java, "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", "-cp", jar, "dev.skein.compat.TxnCheck")
}

func TestCompatTxnPython(t *testing.T) {
	py := venvPython(t)
	runClient(t, "confluent-kafka transactions", py, filepath.Join(compatDir, "python", "txn_check.py"))
}
