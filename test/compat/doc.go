// Package compat holds the client compatibility tests: unmodified standard
// Kafka clients (kcat, Python confluent-kafka, the official Java client)
// create topics on a broker, produce records with acks=all over every
// compression codec and read them back, verifying them byte for byte.
//
// The tests are behind the "compat" build tag and need the clients
// installed first:
//
//	bash test/compat/install.sh
//	go test -tags compat -count=1 -timeout 30m ./test/compat/
//
// By default the tests build ./cmd/skein and start `skein serve` on a free
// loopback port with a temporary data directory. Environment:
//
//	SKEIN_COMPAT_BOOTSTRAP=host:port  use an already running broker instead
//	                                  (any Kafka broker: this checks the tests)
//	SKEIN_COMPAT_SKEIN=path           use this skein binary instead of building one
//	SKEIN_COMPAT_CODECS=gzip,zstd     only these codecs (default: all five)
//	COMPAT_RECORDS=N                  records per codec (default 10000)
//
// Each client program can also be run by hand with a bootstrap address and a
// topic prefix; see the README.
package compat
