package config

import "strings"

// Broker config names that Skein's own code reads; every other broker
// config is reached through its Kafka name.
const (
	NodeID                               = "node.id"
	BrokerID                             = "broker.id"
	Listeners                            = "listeners"
	AdvertisedListeners                  = "advertised.listeners"
	ListenerSecurityProtocolMap          = "listener.security.protocol.map"
	LogDir                               = "log.dir"
	LogDirs                              = "log.dirs"
	NumPartitions                        = "num.partitions"
	DefaultReplicationFactor             = "default.replication.factor"
	AutoCreateTopicsEnable               = "auto.create.topics.enable"
	DeleteTopicEnable                    = "delete.topic.enable"
	SocketRequestMaxBytes                = "socket.request.max.bytes"
	SocketSendBufferBytes                = "socket.send.buffer.bytes"
	SocketReceiveBufferBytes             = "socket.receive.buffer.bytes"
	ConnectionsMaxIdleMs                 = "connections.max.idle.ms"
	MaxConnections                       = "max.connections"
	MaxConnectionsPerIP                  = "max.connections.per.ip"
	MaxConnectionsPerIPOverrides         = "max.connections.per.ip.overrides"
	QuotaWindowNum                       = "quota.window.num"
	QuotaWindowSizeSeconds               = "quota.window.size.seconds"
	QueuedMaxRequests                    = "queued.max.requests"
	NumIOThreads                         = "num.io.threads"
	NumNetworkThreads                    = "num.network.threads"
	LogRetentionCheckIntervalMs          = "log.retention.check.interval.ms"
	LogFlushSchedulerIntervalMs          = "log.flush.scheduler.interval.ms"
	LogFlushOffsetCheckpointIntervalMs   = "log.flush.offset.checkpoint.interval.ms"
	FetchMaxBytes                        = "fetch.max.bytes"
	MaxIncrementalFetchSessionCacheSlots = "max.incremental.fetch.session.cache.slots"
	GroupInitialRebalanceDelayMs         = "group.initial.rebalance.delay.ms"
	OffsetsTopicNumPartitions            = "offsets.topic.num.partitions"
	OffsetsTopicReplicationFactor        = "offsets.topic.replication.factor"
	TransactionStateLogNumPartitions     = "transaction.state.log.num.partitions"
	TransactionStateLogReplicationFactor = "transaction.state.log.replication.factor"
	TransactionalIDExpirationMs          = "transactional.id.expiration.ms"
	ProducerIDExpirationMs               = "producer.id.expiration.ms"
	BrokerRack                           = "broker.rack"
	MessageMaxBytes                      = "message.max.bytes"
	LogRetentionMs                       = "log.retention.ms"
	LogRetentionMinutes                  = "log.retention.minutes"
	LogRetentionHours                    = "log.retention.hours"
	ConnectionsMaxReauthMs               = "connections.max.reauth.ms"
	SSLKeystoreType                      = "ssl.keystore.type"
	SSLKeystoreLocation                  = "ssl.keystore.location"
	SSLKeystoreCertificateChain          = "ssl.keystore.certificate.chain"
	SSLKeystoreKey                       = "ssl.keystore.key"
	SSLKeystorePassword                  = "ssl.keystore.password"
	SSLKeyPassword                       = "ssl.key.password"
	SSLTruststoreType                    = "ssl.truststore.type"
	SSLTruststoreLocation                = "ssl.truststore.location"
	SSLTruststoreCertificates            = "ssl.truststore.certificates"
	SSLTruststorePassword                = "ssl.truststore.password"
	SSLClientAuth                        = "ssl.client.auth"
	SSLEnabledProtocols                  = "ssl.enabled.protocols"
	SSLPrincipalMappingRules             = "ssl.principal.mapping.rules"
	SSLEndpointIdentificationAlgorithm   = "ssl.endpoint.identification.algorithm"
	SASLEnabledMechanisms                = "sasl.enabled.mechanisms"
	SASLJaasConfig                       = "sasl.jaas.config"
	SASLServerCallbackHandlerClass       = "sasl.server.callback.handler.class"
	SASLOAuthBearerJWKSEndpointURL       = "sasl.oauthbearer.jwks.endpoint.url"
	SASLOAuthBearerJWKSRefreshMs         = "sasl.oauthbearer.jwks.endpoint.refresh.ms"
	SASLOAuthBearerJWKSRetryBackoffMs    = "sasl.oauthbearer.jwks.endpoint.retry.backoff.ms"
	SASLOAuthBearerJWKSRetryBackoffMaxMs = "sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms"
	SASLOAuthBearerClockSkewSeconds      = "sasl.oauthbearer.clock.skew.seconds"
	SASLOAuthBearerExpectedAudience      = "sasl.oauthbearer.expected.audience"
	SASLOAuthBearerExpectedIssuer        = "sasl.oauthbearer.expected.issuer"
	SASLOAuthBearerScopeClaimName        = "sasl.oauthbearer.scope.claim.name"
	SASLOAuthBearerSubClaimName          = "sasl.oauthbearer.sub.claim.name"
	AdminAddress                         = "skein.admin.address"
	RegistryAddress                      = "skein.registry.address"
	RegistryAdvertisedURL                = "skein.registry.advertised.url"
	RegistryTopicReplicationFactor       = "skein.registry.topic.replication.factor"
	RegistrySSLKeystoreLocation          = "skein.registry.ssl.keystore.location"
	RegistrySSLTruststoreLocation        = "skein.registry.ssl.truststore.location"
	RegistrySSLClientAuthentication      = "skein.registry.ssl.client.authentication"
	RegistrySSLClientAuth                = "skein.registry.ssl.client.auth"
	RegistrySSLEnabledProtocols          = "skein.registry.ssl.enabled.protocols"
	RegistryAuthenticationMethod         = "skein.registry.authentication.method"
	RegistryAuthenticationRealm          = "skein.registry.authentication.realm"
	RegistryAuthenticationRoles          = "skein.registry.authentication.roles"
	RegistryAuthenticationUsersFile      = "skein.registry.authentication.users.file"
	AuthorizerClassName                  = "authorizer.class.name"
	SuperUsers                           = "super.users"
	AllowEveryoneIfNoACLFound            = "allow.everyone.if.no.acl.found"
	AuditEnable                          = "skein.audit.enable"
	AuditTopic                           = "skein.audit.topic"
	AuditTopicPartitions                 = "skein.audit.topic.partitions"
	AuditTopicRetentionMs                = "skein.audit.topic.retention.ms"
	AuditLogAllowed                      = "skein.audit.log.allowed"
	AuditFile                            = "skein.audit.file"
	AuditFileFsync                       = "skein.audit.file.fsync"
	AuditQueueMaxEvents                  = "skein.audit.queue.max.events"
	EncryptionEnable                     = "skein.encryption.enable"
	EncryptionKeyFile                    = "skein.encryption.key.file"
	EncryptionRotationCheckIntervalMs    = "skein.encryption.rotation.check.interval.ms"

	InterBrokerListenerName                  = "inter.broker.listener.name"
	SecurityInterBrokerProtocol              = "security.inter.broker.protocol"
	SASLMechanismInterBrokerProtocol         = "sasl.mechanism.inter.broker.protocol"
	ReplicaFetchMaxBytes                     = "replica.fetch.max.bytes"
	ReplicaFetchResponseMaxBytes             = "replica.fetch.response.max.bytes"
	ReplicaFetchWaitMaxMs                    = "replica.fetch.wait.max.ms"
	ReplicaFetchMinBytes                     = "replica.fetch.min.bytes"
	ReplicaFetchBackoffMs                    = "replica.fetch.backoff.ms"
	ReplicaLagTimeMaxMs                      = "replica.lag.time.max.ms"
	ReplicaSocketTimeoutMs                   = "replica.socket.timeout.ms"
	ReplicaHighWatermarkCheckpointIntervalMs = "replica.high.watermark.checkpoint.interval.ms"
	ReplicaSelectorClass                     = "replica.selector.class"

	// Replication throttling (KIP-73).
	LeaderReplicationThrottledRate    = "leader.replication.throttled.rate"
	FollowerReplicationThrottledRate  = "follower.replication.throttled.rate"
	ReplicationQuotaWindowNum         = "replication.quota.window.num"
	ReplicationQuotaWindowSizeSeconds = "replication.quota.window.size.seconds"
)

// RackAwareReplicaSelector is the replica.selector.class that lets
// consumers fetch from a replica in their rack (KIP-392).
const RackAwareReplicaSelector = "org.apache.kafka.common.replica.RackAwareReplicaSelector"

// DefaultAuditTopic is the audit log topic, named as Confluent Platform
// names its own so that consumers and tooling written for it apply.
const DefaultAuditTopic = "confluent-audit-log-events"

// OAuthBearerValidatorCallbackHandler is Kafka's secured OAUTHBEARER
// validator (KIP-768), the one sasl.server.callback.handler.class may name;
// OAuthBearerValidatorCallbackHandlerV3 is its Kafka 3.x package.
const (
	OAuthBearerValidatorCallbackHandler   = "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler"
	OAuthBearerValidatorCallbackHandlerV3 = "org.apache.kafka.common.security.oauthbearer.secured.OAuthBearerValidatorCallbackHandler"
)

// StandardAuthorizer is the authorizer.class.name that turns on ACL
// checks, Kafka's KRaft authorizer.
const StandardAuthorizer = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"

// maxInt is Java's Integer.MAX_VALUE as text.
const maxInt = "2147483647"

// defaultSecurityProtocolMap is Kafka's default listener.security.protocol.map.
const defaultSecurityProtocolMap = "SASL_SSL:SASL_SSL,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT"

// brokerDefs are the broker configs: first the server-wide ones, then the
// broker defaults of the topic configs (Kafka's "log.*" synonyms), which are
// dynamic exactly where Kafka's DynamicLogConfig makes them so (the
// first-precedence synonym of each topic config; the .hours and .minutes
// variants are static).
var brokerDefs = []Def{
	// Identity and listeners.
	{Name: NodeID, Type: TypeInt, Default: "1", Validator: AtLeast(0),
		Doc: "This node's id. Kafka requires it; Skein defaults to 1 for its single-node zero-config mode. broker.id is a synonym and, when both are set, must be equal."},
	{Name: BrokerID, Type: TypeInt, Default: "1", Validator: AtLeast(0),
		Doc: "Synonym of node.id, kept for older configuration files."},
	{Name: BrokerRack, Type: TypeString, NullDefault: true,
		Doc: "Rack of this broker, reported in Metadata responses."},
	{Name: Listeners, Type: TypeList, Default: "PLAINTEXT://127.0.0.1:9092", Validator: listenersValidator(false),
		Doc: "Comma-separated NAME://host:port endpoints to bind. Skein's default binds loopback only (Kafka's is PLAINTEXT://:9092); an empty host binds all interfaces."},
	{Name: AdvertisedListeners, Type: TypeList, NullDefault: true, Validator: listenersValidator(true),
		Doc: "Endpoints given to clients in Metadata responses, NAME://host:port; when unset, listeners is advertised. 0.0.0.0 is not allowed."},
	{Name: ListenerSecurityProtocolMap, Type: TypeString, Default: defaultSecurityProtocolMap, Validator: securityProtocolMapValidator,
		Doc: "Maps each listener name to its security protocol, as NAME:PROTOCOL pairs separated by commas."},
	{Name: LogDir, Type: TypeList, Default: "./skein-data", Validator: ListOf{},
		Doc: "Data directory, used when log.dirs is unset. Skein's default is ./skein-data (Kafka's is /tmp/kafka-logs)."},
	{Name: LogDirs, Type: TypeList, NullDefault: true, Validator: ListOf{},
		Doc: "Data directory; overrides log.dir. Skein stores all partitions in one directory, so exactly one may be given."},
	{Name: AdminAddress, Type: TypeString, Default: "127.0.0.1:9644",
		Doc: "Skein. host:port of the operator HTTP server (/metrics, /healthz, /readyz, /debug/pprof/; see docs/metrics.md). Port 0 picks a free port; an empty value turns the server off."},
	{Name: RegistryAddress, Type: TypeString, Default: "127.0.0.1:8081",
		Doc: "Skein. host:port of the schema registry (Confluent Schema Registry REST API; see docs/schema-registry.md) that skein serve runs beside the broker. An empty value turns it off."},
	{Name: RegistryAdvertisedURL, Type: TypeString, Default: "",
		Doc: "Skein. URL the other schema registry instances of the cluster forward writes to when this node's registry is the writer, e.g. http://skein-1.example.internal:8081. Empty: http:// and skein.registry.address, whose unspecified host (0.0.0.0, ::) is replaced by the host of this broker's advertised listener, else the machine's host name (as Confluent's host.name)."},
	{Name: RegistryTopicReplicationFactor, Type: TypeShort, Default: "3", Validator: AtLeast(1),
		Doc: "Skein; Confluent's kafkastore.topic.replication.factor. Desired replication factor of the schema registry's _schemas topic when the embedded registry creates it: the topic gets the smaller of this and the number of live brokers (waiting, on a node of a combined quorum, until that many of the quorum's nodes are live), and min.insync.replicas=2 from 3 replicas."},
	// Schema registry security (docs/schema-registry.md, "Security"):
	// Confluent Schema Registry's names after skein.registry.; HTTPS when
	// skein.registry.address is https://host:port.
	{Name: RegistrySSLKeystoreLocation, Type: TypeString, NullDefault: true,
		Doc: "Skein; Confluent's ssl.keystore.location. PEM file of the schema registry's certificate chain (leaf first) and unencrypted private key, needed when skein.registry.address is https://host:port."},
	{Name: RegistrySSLTruststoreLocation, Type: TypeString, NullDefault: true,
		Doc: "Skein; Confluent's ssl.truststore.location. PEM file of the CA certificates client certificates must chain to, and that the other instances' certificates must chain to when writes are forwarded; unset: the system roots."},
	{Name: RegistrySSLClientAuthentication, Type: TypeString, NullDefault: true,
		Doc: "Skein; Confluent's ssl.client.authentication. NONE, REQUESTED or REQUIRED: whether HTTPS clients of the schema registry must present a certificate. With REQUIRED, writes are forwarded presenting the keystore's certificate. Unset: skein.registry.ssl.client.auth."},
	{Name: RegistrySSLClientAuth, Type: TypeBoolean, Default: "false",
		Doc: "Skein; Confluent's older ssl.client.auth. true is skein.registry.ssl.client.authentication=REQUIRED, used when that is unset."},
	{Name: RegistrySSLEnabledProtocols, Type: TypeList, NullDefault: true,
		Doc: "Skein; Confluent's ssl.enabled.protocols. TLS versions the schema registry's HTTPS accepts: TLSv1.2 and/or TLSv1.3. Unset: both."},
	{Name: RegistryAuthenticationMethod, Type: TypeString, Default: "NONE",
		Doc: "Skein; Confluent's authentication.method. NONE, or BASIC: every schema registry request needs HTTP Basic credentials of a user of skein.registry.authentication.users.file."},
	{Name: RegistryAuthenticationRealm, Type: TypeString, NullDefault: true,
		Doc: "Skein; Confluent's authentication.realm. Realm named in the WWW-Authenticate header of a 401 answer. Unset: SchemaRegistry."},
	{Name: RegistryAuthenticationRoles, Type: TypeList, Default: "*",
		Doc: "Skein; Confluent's authentication.roles. Roles of which a user needs one, else 403; * admits every authenticated user."},
	{Name: RegistryAuthenticationUsersFile, Type: TypeString, NullDefault: true,
		Doc: "Skein. Users of BASIC authentication, in the Jetty property file format Confluent's PropertyFileLoginModule reads (username: password[,role...]); passwords plain, OBF: or MD5:. Read again when it changes."},

	// Authorization.
	{Name: AuthorizerClassName, Type: TypeString, Default: "", Validator: OneOf{"", StandardAuthorizer},
		Doc: "Authorizer of client requests. " + StandardAuthorizer + " checks every request against the ACLs kept in the cluster metadata (see docs/acl.md); empty turns authorization off."},
	{Name: SuperUsers, Type: TypeString, Default: "",
		Doc: "Principals allowed every operation whatever the ACLs say, separated by semicolons (User:admin;User:ops)."},
	{Name: AllowEveryoneIfNoACLFound, Type: TypeBoolean, Default: "false",
		Doc: "Allow every principal to use a resource that has no ACL at all; when false, such a resource is refused to all but super users."},

	// Audit log (docs/audit.md).
	{Name: AuditEnable, Type: TypeBoolean, Default: "true",
		Doc: "Skein. Write the audit log (authentications, authorization denials, administrative changes) when an authorizer is configured (authorizer.class.name); without one there is no audit log."},
	{Name: AuditTopic, Type: TypeString, Default: DefaultAuditTopic, Validator: topicName{},
		Doc: "Skein. Topic the audit events are written to, created at start when it does not exist. Only super users and principals with a READ ACL on it may read it; no client may produce to it."},
	{Name: AuditTopicPartitions, Type: TypeInt, Default: "1", Validator: Between(1, 10000),
		Doc: "Skein. Partitions of the audit topic when it is created. One keeps every event in order."},
	{Name: AuditTopicRetentionMs, Type: TypeLong, Default: "7776000000", Validator: AtLeast(-1),
		Doc: "Skein. retention.ms of the audit topic when it is created: 90 days, Confluent's default for its audit log topic."},
	{Name: AuditLogAllowed, Type: TypeBoolean, Default: "false",
		Doc: "Skein. Also log authorizations that were granted, not only denials. Every produce and fetch then writes an event."},
	{Name: AuditFile, Type: TypeString, NullDefault: true,
		Doc: "Skein. File the audit events are also appended to, one JSON event per line; unset writes none."},
	{Name: AuditFileFsync, Type: TypeBoolean, Default: "true",
		Doc: "Skein. fsync the audit file after each batch of events written to it; false leaves flushing to the operating system."},
	{Name: AuditQueueMaxEvents, Type: TypeInt, Default: "10000", Validator: Between(1, 1000000),
		Doc: "Skein. Most audit events waiting to be written. Events are written asynchronously and never delay requests; when the queue is full further events are dropped, counted in skein_audit_events_dropped_total and logged."},
	// Encryption at rest (docs/encryption.md).
	{Name: EncryptionEnable, Type: TypeBoolean, Default: "false",
		Doc: "Skein. Encrypt partition data at rest with AES-256-GCM under the current key of skein.encryption.key.file. When false with a key file set, data encrypted before stays readable and is rewritten in the clear."},
	{Name: EncryptionKeyFile, Type: TypeString, NullDefault: true,
		Doc: "Skein. JSON file of named 32-byte keys (base64) and the id of the current one; it must be readable by its owner only. Read again every skein.encryption.rotation.check.interval.ms."},
	{Name: EncryptionRotationCheckIntervalMs, Type: TypeLong, Default: "300000", Validator: AtLeast(1),
		Doc: "Skein. How often, in ms, the key file is read again and segments not under the current key are rewritten under it."},

	// Topic creation.
	{Name: NumPartitions, Type: TypeInt, Default: "1", Validator: AtLeast(1),
		Doc: "Partitions of an auto-created topic, and of a created topic that asks for the default (-1)."},
	{Name: DefaultReplicationFactor, Type: TypeInt, Default: "1",
		Doc: "Replication factor of an auto-created topic, and of a created topic that asks for the default (-1)."},
	{Name: AutoCreateTopicsEnable, Type: TypeBoolean, Default: "true",
		Doc: "Create a topic when a Metadata request names one that does not exist and allows auto-creation."},
	{Name: DeleteTopicEnable, Type: TypeBoolean, Default: "true",
		Doc: "Allow DeleteTopics; when false it fails with TOPIC_DELETION_DISABLED."},

	// Network.
	{Name: SocketRequestMaxBytes, Type: TypeInt, Default: "104857600", Validator: AtLeast(1),
		Doc: "Largest request accepted, in bytes; a larger size prefix closes the connection."},
	{Name: SocketSendBufferBytes, Type: TypeInt, Default: "102400",
		Doc: "SO_SNDBUF of accepted sockets, in bytes; -1 keeps the OS default."},
	{Name: SocketReceiveBufferBytes, Type: TypeInt, Default: "102400",
		Doc: "SO_RCVBUF of accepted sockets, in bytes; -1 keeps the OS default."},
	{Name: ConnectionsMaxIdleMs, Type: TypeLong, Default: "600000",
		Doc: "Close connections idle for longer than this, in ms."},
	{Name: ConnectionsMaxReauthMs, Type: TypeLong, Default: "0", Validator: AtLeast(0),
		Doc: "KIP-368: when positive, the lifetime of a SASL session in ms; a client must re-authenticate within it or its connection is closed at its next request. 0 turns re-authentication off."},

	// TLS (SSL and SASL_SSL listeners). Each may also be given for one
	// listener as listener.name.<listener>.<name>, which wins.
	{Name: SSLKeystoreType, Type: TypeString, Default: "PEM", Validator: OneOf{"PEM"},
		Doc: "Format of the keystore. Skein reads PEM only (Kafka's default is JKS); convert a JKS or PKCS12 keystore with keytool and openssl."},
	{Name: SSLKeystoreLocation, Type: TypeString, NullDefault: true,
		Doc: "PEM file with the broker's certificate chain (leaf first) and its unencrypted private key. Re-read at the next handshake after it changes."},
	{Name: SSLKeystoreCertificateChain, Type: TypePassword, NullDefault: true, Sensitive: true,
		Doc: "The broker's certificate chain in PEM, used when ssl.keystore.location is unset."},
	{Name: SSLKeystoreKey, Type: TypePassword, NullDefault: true, Sensitive: true,
		Doc: "The broker's unencrypted private key in PEM (PKCS#8, PKCS#1 or SEC 1), used with ssl.keystore.certificate.chain."},
	{Name: SSLKeystorePassword, Type: TypePassword, NullDefault: true, Sensitive: true,
		Doc: "Not used: PEM keystores are read unencrypted. Setting it is an error."},
	{Name: SSLKeyPassword, Type: TypePassword, NullDefault: true, Sensitive: true,
		Doc: "Not used: encrypted private keys are not supported. Setting it is an error."},
	{Name: SSLTruststoreType, Type: TypeString, Default: "PEM", Validator: OneOf{"PEM"},
		Doc: "Format of the truststore. Skein reads PEM only (Kafka's default is JKS)."},
	{Name: SSLTruststoreLocation, Type: TypeString, NullDefault: true,
		Doc: "PEM file of the CA certificates client certificates must chain to; when unset, ssl.truststore.certificates, then the system roots."},
	{Name: SSLTruststoreCertificates, Type: TypePassword, NullDefault: true, Sensitive: true,
		Doc: "CA certificates in PEM, used when ssl.truststore.location is unset."},
	{Name: SSLTruststorePassword, Type: TypePassword, NullDefault: true, Sensitive: true,
		Doc: "Not used with PEM truststores."},
	{Name: SSLClientAuth, Type: TypeString, Default: "none", Validator: OneOf{"required", "requested", "none"},
		Doc: "Whether TLS clients must (required) or may (requested) present a certificate signed by a trusted CA."},
	{Name: SSLEnabledProtocols, Type: TypeList, Default: "TLSv1.2,TLSv1.3", Validator: ListOf{Values: []string{"TLSv1.2", "TLSv1.3"}},
		Doc: "TLS versions served. Older versions are not supported."},
	{Name: SSLPrincipalMappingRules, Type: TypeString, Default: "DEFAULT",
		Doc: "Rules mapping a client certificate's subject DN (RFC 2253) to a principal name: DEFAULT, or RULE:pattern/replacement/[LU], separated by commas."},
	{Name: SSLEndpointIdentificationAlgorithm, Type: TypeString, Default: "https",
		Doc: "How a broker connecting to another broker's SSL or SASL_SSL inter-broker listener checks the server certificate's host name: https (the certificate must name the advertised host or IP address) or empty (the certificate chain is verified, the name is not)."},

	// SASL (SASL_PLAINTEXT and SASL_SSL listeners).
	{Name: SASLEnabledMechanisms, Type: TypeList, Default: "GSSAPI",
		Doc: "SASL mechanisms offered. Skein serves PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 and OAUTHBEARER; a SASL listener with any other mechanism (such as Kafka's default GSSAPI) is an error at start."},
	{Name: SASLJaasConfig, Type: TypePassword, NullDefault: true, Sensitive: true,
		Doc: "JAAS configuration of a mechanism, given per listener and mechanism as listener.name.<listener>.<mechanism>.sasl.jaas.config. For PLAIN: org.apache.kafka.common.security.plain.PlainLoginModule required user_<name>=\"<password>\"; with one user_ option per user. For OAUTHBEARER (optional): org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required; with ssl.truststore.location or ssl.truststore.certificates (PEM) to trust a private CA for an https JWKS endpoint."},
	{Name: SASLServerCallbackHandlerClass, Type: TypeClass, NullDefault: true, Validator: OneOf{OAuthBearerValidatorCallbackHandler, OAuthBearerValidatorCallbackHandlerV3},
		Doc: "Server callback handler of a mechanism, given per listener and mechanism as listener.name.<listener>.oauthbearer.sasl.server.callback.handler.class. Skein always validates OAUTHBEARER tokens as signed JWTs; the setting is accepted for configurations written for Kafka and may only name " + OAuthBearerValidatorCallbackHandler + "."},
	{Name: SASLOAuthBearerJWKSEndpointURL, Type: TypeString, NullDefault: true,
		Doc: "OAUTHBEARER: where the keys that sign access tokens are published, a JWKS (RFC 7517): an https or http URL, fetched at start and refreshed, or a file: URL, read again when the file changes. Required when OAUTHBEARER is enabled."},
	{Name: SASLOAuthBearerJWKSRefreshMs, Type: TypeLong, Default: "3600000", Validator: AtLeast(1),
		Doc: "OAUTHBEARER: how often an http(s) JWKS is fetched again, in ms; a token naming an unknown key ID brings the next fetch forward (at most once a minute per key ID)."},
	{Name: SASLOAuthBearerJWKSRetryBackoffMs, Type: TypeLong, Default: "100", Validator: AtLeast(1),
		Doc: "OAUTHBEARER: wait before retrying a failed JWKS fetch, in ms; doubled after each failure."},
	{Name: SASLOAuthBearerJWKSRetryBackoffMaxMs, Type: TypeLong, Default: "10000", Validator: AtLeast(0),
		Doc: "OAUTHBEARER: how long a failed JWKS fetch is retried, in ms. At start, a broker that cannot fetch its JWKS within it does not start."},
	{Name: SASLOAuthBearerClockSkewSeconds, Type: TypeInt, Default: "30", Validator: AtLeast(0),
		Doc: "OAUTHBEARER: clock difference allowed between the token issuer and the broker when checking exp, nbf and iat, in seconds."},
	{Name: SASLOAuthBearerExpectedAudience, Type: TypeList, NullDefault: true,
		Doc: "OAUTHBEARER: audiences the broker accepts; a token's aud claim must hold one of them. When unset, a token with an aud claim is refused, as Kafka refuses it."},
	{Name: SASLOAuthBearerExpectedIssuer, Type: TypeString, NullDefault: true,
		Doc: "OAUTHBEARER: when set, a token's iss claim must equal it."},
	{Name: SASLOAuthBearerScopeClaimName, Type: TypeString, Default: "scope",
		Doc: "OAUTHBEARER: the claim holding a token's scopes."},
	{Name: SASLOAuthBearerSubClaimName, Type: TypeString, Default: "sub",
		Doc: "OAUTHBEARER: the claim holding a token's principal name; the client authenticates as User:<value>."},
	{Name: MaxConnections, Type: TypeInt, Default: maxInt, Validator: AtLeast(0), Dynamic: true,
		Doc: "Most connections open at once on the broker; at the limit the listeners stop accepting until one closes. With several listeners the inter-broker listener is exempt."},
	{Name: MaxConnectionsPerIP, Type: TypeInt, Default: maxInt, Validator: AtLeast(0), Dynamic: true,
		Doc: "The maximum number of connections allowed from each IP address; a new connection beyond it is closed as soon as it is accepted. It may be 0 only when max.connections.per.ip.overrides is set."},
	{Name: MaxConnectionsPerIPOverrides, Type: TypeString, Default: "", Validator: connectionOverridesValidator, Dynamic: true,
		Doc: "Per-IP or hostname overrides of max.connections.per.ip, as comma-separated host:count pairs (hostName:100,127.0.0.1:200)."},
	{Name: QuotaWindowNum, Type: TypeInt, Default: "11", Validator: AtLeast(1),
		Doc: "The number of samples kept in memory to measure client quotas (see docs/quotas.md)."},
	{Name: QuotaWindowSizeSeconds, Type: TypeInt, Default: "1", Validator: AtLeast(1),
		Doc: "The time span of each client quota sample, in seconds."},
	{Name: QueuedMaxRequests, Type: TypeInt, Default: "500", Validator: AtLeast(1),
		Doc: "Requests read ahead per broker before reading from sockets pauses."},
	{Name: NumIOThreads, Type: TypeInt, Default: "8", Validator: AtLeast(1), Dynamic: true,
		Doc: "Accepted for compatibility. Skein serves requests on goroutines and has no request thread pool; the value is not used."},
	{Name: NumNetworkThreads, Type: TypeInt, Default: "3", Validator: AtLeast(1), Dynamic: true,
		Doc: "Accepted for compatibility. Skein reads each connection on its own goroutine; the value is not used."},
	{Name: FetchMaxBytes, Type: TypeInt, Default: "57671680", Validator: AtLeast(1024),
		Doc: "Upper bound on the bytes returned by one Fetch, whatever the request asks for."},
	{Name: MaxIncrementalFetchSessionCacheSlots, Type: TypeInt, Default: "1000", Validator: AtLeast(0),
		Doc: "How many incremental fetch sessions (KIP-227) the broker keeps; 0 turns sessions off."},

	// Log management.
	{Name: LogRetentionCheckIntervalMs, Type: TypeLong, Default: "300000", Validator: AtLeast(1),
		Doc: "How often retention is enforced, in ms."},
	{Name: LogFlushSchedulerIntervalMs, Type: TypeLong, Default: maxLong,
		Doc: "How often logs are checked for a due time-based flush, in ms; also the default of flush.ms when log.flush.interval.ms is unset."},
	{Name: LogFlushOffsetCheckpointIntervalMs, Type: TypeInt, Default: "60000", Validator: AtLeast(0),
		Doc: "How often the recovery point of each log is persisted, in ms."},

	// Coordinators.
	{Name: GroupInitialRebalanceDelayMs, Type: TypeInt, Default: "3000",
		Doc: "How long a new classic group waits for more members before its first rebalance, in ms."},
	{Name: "group.min.session.timeout.ms", Type: TypeInt, Default: "6000",
		Doc: "Smallest session timeout a classic group member may ask for, in ms; a smaller one is INVALID_SESSION_TIMEOUT."},
	{Name: "group.max.session.timeout.ms", Type: TypeInt, Default: "1800000",
		Doc: "Largest session timeout a classic group member may ask for, in ms; a larger one is INVALID_SESSION_TIMEOUT."},
	{Name: "group.max.size", Type: TypeInt, Default: maxInt, Validator: AtLeast(1),
		Doc: "Most members a classic group may have; further joins get GROUP_MAX_SIZE_REACHED."},
	{Name: "group.consumer.heartbeat.interval.ms", Type: TypeInt, Default: "5000", Validator: AtLeast(1),
		Doc: "Heartbeat interval given to members of consumer groups (KIP-848), in ms."},
	{Name: "group.consumer.session.timeout.ms", Type: TypeInt, Default: "45000", Validator: AtLeast(1),
		Doc: "Session timeout of members of consumer groups (KIP-848), in ms."},
	{Name: "group.consumer.max.size", Type: TypeInt, Default: maxInt, Validator: AtLeast(1),
		Doc: "Most members a consumer group (KIP-848) may have; further members get GROUP_MAX_SIZE_REACHED."},
	{Name: "group.consumer.assignors", Type: TypeList, Default: "uniform,range", Validator: ListOf{},
		Doc: "Server-side assignors of consumer groups (KIP-848); the first is the default. Skein knows uniform and range (Kafka's class names are accepted too)."},
	{Name: "offsets.retention.minutes", Type: TypeInt, Default: "10080", Validator: AtLeast(1),
		Doc: "How long the committed offsets of an empty group are kept after it became empty, in minutes."},
	{Name: "offsets.retention.check.interval.ms", Type: TypeLong, Default: "600000", Validator: AtLeast(1),
		Doc: "How often expired offsets are removed, in ms."},
	{Name: "offsets.commit.timeout.ms", Type: TypeInt, Default: "5000", Validator: AtLeast(1),
		Doc: "How long an offset commit waits to be replicated to the in-sync replicas (fsynced on each), in ms."},
	{Name: "offset.metadata.max.bytes", Type: TypeInt, Default: "4096",
		Doc: "Largest metadata string of an offset commit, in bytes; a larger one is OFFSET_METADATA_TOO_LARGE."},
	{Name: OffsetsTopicNumPartitions, Type: TypeInt, Default: "50", Validator: AtLeast(1),
		Doc: "Partitions of __consumer_offsets; fixed once the topic exists."},
	{Name: OffsetsTopicReplicationFactor, Type: TypeShort, Default: "1", Validator: AtLeast(1),
		Doc: "Replication factor of __consumer_offsets. Skein defaults to 1 for a single node (Kafka's default is 3)."},
	{Name: TransactionStateLogNumPartitions, Type: TypeInt, Default: "50", Validator: AtLeast(1),
		Doc: "Partitions of __transaction_state; fixed once the topic exists."},
	{Name: TransactionStateLogReplicationFactor, Type: TypeShort, Default: "1", Validator: AtLeast(1),
		Doc: "Replication factor of __transaction_state. Skein defaults to 1 for a single node (Kafka's default is 3)."},
	{Name: TransactionalIDExpirationMs, Type: TypeInt, Default: "604800000", Validator: AtLeast(1),
		Doc: "Time after which an idle transactional id is expired, in ms."},
	{Name: "transaction.max.timeout.ms", Type: TypeInt, Default: "900000", Validator: AtLeast(1),
		Doc: "Largest transaction timeout a producer may ask for, in ms; a larger one is INVALID_TRANSACTION_TIMEOUT."},
	{Name: "transaction.abort.timed.out.transaction.cleanup.interval.ms", Type: TypeInt, Default: "10000", Validator: AtLeast(1),
		Doc: "How often transactions open longer than their timeout are aborted, in ms."},
	{Name: "transaction.remove.expired.transaction.cleanup.interval.ms", Type: TypeInt, Default: "3600000", Validator: AtLeast(1),
		Doc: "How often transactional ids idle longer than transactional.id.expiration.ms are removed, in ms."},
	{Name: ProducerIDExpirationMs, Type: TypeInt, Default: "86400000", Validator: AtLeast(1), Dynamic: true,
		Doc: "Time after a producer id's last write at which its idempotence state is dropped, in ms."},

	// Settings of Kafka's stock KRaft server.properties that have no
	// counterpart in Skein. They are accepted so that the file works
	// unchanged, and reported by DescribeConfigs as Kafka does.
	{Name: ProcessRoles, Type: TypeList, Default: "", Validator: ListOf{Values: []string{"broker", "controller"}, AllowEmpty: true},
		Doc: "The roles of this node in a cluster: broker, controller, or both. Unset, the node is a single combined node whose metadata quorum is itself."},
	{Name: ControllerQuorumVoters, Type: TypeList, Default: "", Validator: quorumVotersValidator,
		Doc: "The initial voters of the metadata quorum as {id}@{host}:{port} (their controller listeners), the same list on every node. A node of the list with an empty metadata directory bootstraps the quorum with them; other nodes join it as learners."},
	{Name: ControllerQuorumBootstrapServers, Type: TypeList, Default: "", Validator: bootstrapServersValidator,
		Doc: "Controller listeners (host:port) through which a node with an empty metadata directory joins the quorum as a learner. A controller whose only bootstrap server is itself starts a new quorum with itself as the only voter."},
	{Name: ControllerListenerNames, Type: TypeList, NullDefault: true,
		Doc: "The listener of the metadata quorum: the raft transport and the controller RPC share its port. Broker-only nodes list it too: they receive the metadata log there as raft learners."},
	{Name: InterBrokerListenerName, Type: TypeString, NullDefault: true,
		Doc: "Listener used between brokers (replica fetching, transaction markers and verification); when unset, the listener named by security.inter.broker.protocol if that is set, else the first listener of listeners other than the controller listeners. It may be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL: brokers connect to it with their own ssl.* settings and sasl.mechanism.inter.broker.protocol credentials for that listener."},
	{Name: SecurityInterBrokerProtocol, Type: TypeString, Default: "PLAINTEXT", Validator: OneOf{"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"},
		Doc: "Security protocol used between brokers, naming the listener of that name; only one of it and inter.broker.listener.name may be set. When neither is set, the first listener other than the controller listeners is used."},
	{Name: SASLMechanismInterBrokerProtocol, Type: TypeString, Default: "GSSAPI",
		Doc: "SASL mechanism brokers authenticate with to a SASL_PLAINTEXT or SASL_SSL inter-broker listener: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, with the username and password options of listener.name.<listener>.<mechanism>.sasl.jaas.config (or sasl.jaas.config). Kafka's default GSSAPI is not supported: a broker whose inter-broker listener uses SASL refuses to start while it is unset or GSSAPI."},
	{Name: "broker.session.timeout.ms", Type: TypeInt, Default: "9000", Validator: AtLeast(1),
		Doc: "How long the active controller waits without hearing from a broker before it fences it and moves its partition leaderships to other in-sync replicas."},
	{Name: "broker.heartbeat.interval.ms", Type: TypeInt, Default: "2000", Validator: AtLeast(1),
		Doc: "How often the active controller checks the brokers' sessions. Brokers are heard through the metadata quorum's own heartbeats."},
	{Name: "controller.quorum.election.timeout.ms", Type: TypeInt, Default: "1000", Validator: AtLeast(1),
		Doc: "Time without hearing from the leader of the metadata quorum after which a voter starts an election (randomized up to twice as long)."},
	{Name: "auto.leader.rebalance.enable", Type: TypeBoolean, Default: "true",
		Doc: "Whether the active controller moves the leadership of partitions back to their preferred replica when a broker's imbalance exceeds leader.imbalance.per.broker.percentage."},
	{Name: "leader.imbalance.check.interval.seconds", Type: TypeLong, Default: "300", Validator: AtLeast(1),
		Doc: "How often the active controller checks the leader balance, in seconds."},
	{Name: "leader.imbalance.per.broker.percentage", Type: TypeInt, Default: "10", Validator: AtLeast(0),
		Doc: "The share (percent) of a broker's preferred partitions led by other brokers above which their preferred leaders are elected again."},
	{Name: "num.recovery.threads.per.data.dir", Type: TypeInt, Default: "2", Validator: AtLeast(1), Dynamic: true,
		Doc: "Accepted for compatibility. Skein does not size log recovery by a thread count; the value is not used."},
	{Name: "transaction.state.log.min.isr", Type: TypeInt, Default: "1", Validator: AtLeast(1),
		Doc: "min.insync.replicas of __transaction_state. Skein defaults to 1 for a single node (Kafka's default is 2)."},
	{Name: "share.coordinator.state.topic.replication.factor", Type: TypeShort, Default: "1", Validator: AtLeast(1),
		Doc: "Accepted for compatibility. Skein does not implement share groups; the value is not used."},
	{Name: "share.coordinator.state.topic.min.isr", Type: TypeShort, Default: "1", Validator: AtLeast(1),
		Doc: "Accepted for compatibility. Skein does not implement share groups; the value is not used."},

	// Replication (broker/replica*.go).
	{Name: ReplicaFetchMaxBytes, Type: TypeInt, Default: "1048576", Validator: AtLeast(0),
		Doc: "Bytes a follower asks for per partition in each fetch from its leader; the first batch is returned whole even if larger."},
	{Name: ReplicaFetchResponseMaxBytes, Type: TypeInt, Default: "10485760", Validator: AtLeast(0),
		Doc: "Bytes a follower asks for in each fetch from its leader, all partitions together."},
	{Name: ReplicaFetchWaitMaxMs, Type: TypeInt, Default: "500",
		Doc: "Longest time a leader holds a follower's fetch while less than replica.fetch.min.bytes is available, in ms; keep it below replica.lag.time.max.ms."},
	{Name: ReplicaFetchMinBytes, Type: TypeInt, Default: "1",
		Doc: "Bytes a follower's fetch waits for, up to replica.fetch.wait.max.ms."},
	{Name: ReplicaFetchBackoffMs, Type: TypeInt, Default: "1000", Validator: AtLeast(0),
		Doc: "Time a follower waits after a failed fetch from its leader before it fetches that partition again, in ms."},
	{Name: ReplicaLagTimeMaxMs, Type: TypeLong, Default: "30000",
		Doc: "A follower that has not caught up with its leader's log end for this long is removed from the in-sync replicas, in ms."},
	{Name: ReplicaSocketTimeoutMs, Type: TypeInt, Default: "30000",
		Doc: "Network timeout of a follower's requests to its leader, in ms, on top of replica.fetch.wait.max.ms."},
	{Name: ReplicaHighWatermarkCheckpointIntervalMs, Type: TypeLong, Default: "5000", Validator: AtLeast(1),
		Doc: "How often the high watermarks are written to replication-offset-checkpoint, in ms."},
	{Name: ReplicaSelectorClass, Type: TypeClass, NullDefault: true, Validator: OneOf{RackAwareReplicaSelector},
		Doc: "KIP-392: org.apache.kafka.common.replica.RackAwareReplicaSelector lets consumers that send a rack (client.rack) fetch from an in-sync replica in their rack; unset, consumers fetch from the leader."},

	// Replication throttling (KIP-73, broker/replica_throttle.go).
	{Name: LeaderReplicationThrottledRate, Type: TypeLong, Default: maxLong, Validator: AtLeast(0), Dynamic: true,
		Doc: "A long representing the upper bound (bytes/sec) on replication traffic for leaders enumerated in the property " + LeaderReplicationThrottledReplicas +
			" (for each topic). This property can be only set dynamically. It is suggested that the limit be kept above 1MB/s for accurate behaviour."},
	{Name: FollowerReplicationThrottledRate, Type: TypeLong, Default: maxLong, Validator: AtLeast(0), Dynamic: true,
		Doc: "A long representing the upper bound (bytes/sec) on replication traffic for followers enumerated in the property " + FollowerReplicationThrottledReplicas +
			" (for each topic). This property can be only set dynamically. It is suggested that the limit be kept above 1MB/s for accurate behaviour."},
	{Name: ReplicationQuotaWindowNum, Type: TypeInt, Default: "11", Validator: AtLeast(1),
		Doc: "The number of samples to retain in memory for replication quotas"},
	{Name: ReplicationQuotaWindowSizeSeconds, Type: TypeInt, Default: "1", Validator: AtLeast(1),
		Doc: "The time span of each sample for replication quotas"},

	// Broker defaults of topic configs.
	{Name: "log.cleanup.policy", Type: TypeList, Default: CleanupPolicyDelete, Dynamic: true,
		Validator: ListOf{Values: []string{CleanupPolicyCompact, CleanupPolicyDelete}, AllowEmpty: true},
		Doc:       "Default of cleanup.policy."},
	{Name: "compression.type", Type: TypeString, Default: "producer", Validator: compressionTypes, Dynamic: true,
		Doc: "Default of the topic config compression.type."},
	{Name: "compression.gzip.level", Type: TypeInt, Default: "-1", Validator: gzipLevel, Dynamic: true,
		Doc: "Default of the topic config compression.gzip.level."},
	{Name: "compression.lz4.level", Type: TypeInt, Default: "9", Validator: Between(1, 17), Dynamic: true,
		Doc: "Default of the topic config compression.lz4.level."},
	{Name: "compression.zstd.level", Type: TypeInt, Default: "3", Validator: Between(-131072, 22), Dynamic: true,
		Doc: "Default of the topic config compression.zstd.level."},
	{Name: "log.cleaner.delete.retention.ms", Type: TypeLong, Default: "86400000", Validator: AtLeast(0), Dynamic: true,
		Doc: "Default of delete.retention.ms."},
	{Name: "log.cleaner.max.compaction.lag.ms", Type: TypeLong, Default: maxLong, Validator: AtLeast(1), Dynamic: true,
		Doc: "Default of max.compaction.lag.ms."},
	{Name: "log.cleaner.min.cleanable.ratio", Type: TypeDouble, Default: "0.5", Validator: Between(0, 1), Dynamic: true,
		Doc: "Default of min.cleanable.dirty.ratio."},
	{Name: "log.cleaner.min.compaction.lag.ms", Type: TypeLong, Default: "0", Validator: AtLeast(0), Dynamic: true,
		Doc: "Default of min.compaction.lag.ms."},
	{Name: "log.flush.interval.messages", Type: TypeLong, Default: maxLong, Validator: AtLeast(1), Dynamic: true,
		Doc: "Default of flush.messages."},
	{Name: "log.flush.interval.ms", Type: TypeLong, NullDefault: true, Validator: AtLeast(0), Dynamic: true,
		Doc: "Default of flush.ms; when unset, log.flush.scheduler.interval.ms is used."},
	{Name: "log.index.interval.bytes", Type: TypeInt, Default: "4096", Validator: AtLeast(0), Dynamic: true,
		Doc: "Default of index.interval.bytes."},
	{Name: "log.index.size.max.bytes", Type: TypeInt, Default: "10485760", Validator: AtLeast(4), Dynamic: true,
		Doc: "Default of segment.index.bytes."},
	{Name: "log.message.timestamp.after.max.ms", Type: TypeLong, Default: "3600000", Validator: AtLeast(0), Dynamic: true,
		Doc: "Default of message.timestamp.after.max.ms."},
	{Name: "log.message.timestamp.before.max.ms", Type: TypeLong, Default: maxLong, Validator: AtLeast(0), Dynamic: true,
		Doc: "Default of message.timestamp.before.max.ms."},
	{Name: "log.message.timestamp.type", Type: TypeString, Default: "CreateTime", Validator: timestampTypes, Dynamic: true,
		Doc: "Default of message.timestamp.type."},
	{Name: "log.preallocate", Type: TypeBoolean, Default: "false", Dynamic: true,
		Doc: "Default of preallocate."},
	{Name: "log.retention.bytes", Type: TypeLong, Default: "-1", Dynamic: true,
		Doc: "Default of retention.bytes."},
	{Name: LogRetentionMs, Type: TypeLong, NullDefault: true, Dynamic: true,
		Doc: "Default of retention.ms; when unset, log.retention.minutes, then log.retention.hours, is used. A negative value means no limit."},
	{Name: LogRetentionMinutes, Type: TypeInt, NullDefault: true,
		Doc: "Default of retention.ms in minutes, used when log.retention.ms is unset."},
	{Name: LogRetentionHours, Type: TypeInt, Default: "168",
		Doc: "Default of retention.ms in hours, used when log.retention.ms and log.retention.minutes are unset."},
	{Name: "log.roll.hours", Type: TypeInt, Default: "168", Validator: AtLeast(1),
		Doc: "Default of segment.ms in hours, used when log.roll.ms is unset."},
	{Name: "log.roll.jitter.hours", Type: TypeInt, Default: "0", Validator: AtLeast(0),
		Doc: "Default of segment.jitter.ms in hours, used when log.roll.jitter.ms is unset."},
	{Name: "log.roll.jitter.ms", Type: TypeLong, NullDefault: true, Validator: AtLeast(0), Dynamic: true,
		Doc: "Default of segment.jitter.ms; when unset, log.roll.jitter.hours is used."},
	{Name: "log.roll.ms", Type: TypeLong, NullDefault: true, Validator: AtLeast(1), Dynamic: true,
		Doc: "Default of segment.ms; when unset, log.roll.hours is used."},
	{Name: "log.segment.bytes", Type: TypeInt, Default: "1073741824", Validator: AtLeast(1 << 20), Dynamic: true,
		Doc: "Default of segment.bytes."},
	{Name: "log.segment.delete.delay.ms", Type: TypeLong, Default: "60000", Validator: AtLeast(0), Dynamic: true,
		Doc: "Default of file.delete.delay.ms."},
	{Name: "log.write.caching", Type: TypeBoolean, Default: "false", Dynamic: true,
		Doc: "Skein. Default of write.caching."},
	{Name: MessageMaxBytes, Type: TypeInt, Default: "1048588", Validator: AtLeast(0), Dynamic: true,
		Doc: "Default of max.message.bytes: the largest record batch accepted, in bytes."},
	{Name: MinInsyncReplicas, Type: TypeInt, Default: "1", Validator: AtLeast(1), Dynamic: true,
		Doc: "Default of the topic config min.insync.replicas."},
	{Name: UncleanLeaderElectionEnable, Type: TypeBoolean, Default: "false", Dynamic: true,
		Doc: "Default of the topic config unclean.leader.election.enable."},
}

// removedBroker explains broker configs that Kafka 4.0 removed, for the
// "Unknown broker config name" error.
var removedBroker = map[string]string{
	"zookeeper.connect":                       "ZooKeeper mode was removed in Kafka 4.0 and Skein does not use ZooKeeper",
	"zookeeper.connection.timeout.ms":         "ZooKeeper mode was removed in Kafka 4.0 and Skein does not use ZooKeeper",
	"zookeeper.session.timeout.ms":            "ZooKeeper mode was removed in Kafka 4.0 and Skein does not use ZooKeeper",
	"log.message.format.version":              "removed in Kafka 4.0; record batches are always format v2",
	"log.message.timestamp.difference.max.ms": "removed in Kafka 4.0; use log.message.timestamp.before.max.ms and log.message.timestamp.after.max.ms",
	"log.message.downconversion.enable":       "removed in Kafka 4.0",
}

// brokerSynonyms returns the names Kafka lists as synonyms of a broker
// config, in precedence order (DynamicBrokerConfig.brokerConfigSynonyms).
func brokerSynonyms(name string) []string {
	switch name {
	case "log.roll.ms", "log.roll.hours":
		return []string{"log.roll.ms", "log.roll.hours"}
	case "log.roll.jitter.ms", "log.roll.jitter.hours":
		return []string{"log.roll.jitter.ms", "log.roll.jitter.hours"}
	case "log.flush.interval.ms":
		return []string{"log.flush.interval.ms", LogFlushSchedulerIntervalMs}
	case LogRetentionMs, LogRetentionMinutes, LogRetentionHours:
		return []string{LogRetentionMs, LogRetentionMinutes, LogRetentionHours}
	}
	return []string{name}
}

// listenerPrefixedDef returns the definition behind a listener-prefixed
// security config, listener.name.<listener>.<ssl or sasl config> or
// listener.name.<listener>.<mechanism>.<sasl config>, as Kafka accepts
// them.
func listenerPrefixedDef(name string) (*Def, bool) {
	rest, ok := strings.CutPrefix(name, "listener.name.")
	if !ok {
		return nil, false
	}
	_, base, ok := strings.Cut(rest, ".")
	if !ok {
		return nil, false
	}
	if mech, sasl, ok := strings.Cut(base, "."); ok && mech != "sasl" && mech != "ssl" &&
		(sasl == SASLJaasConfig || sasl == SASLServerCallbackHandlerClass || strings.HasPrefix(sasl, "sasl.oauthbearer.")) {
		d, ok := brokerByName[sasl]
		return d, ok
	}
	if !strings.HasPrefix(base, "ssl.") && !strings.HasPrefix(base, "sasl.") && base != ConnectionsMaxReauthMs {
		return nil, false
	}
	d, ok := brokerByName[base]
	return d, ok
}

// ListenerValue returns the value of a security config for one listener:
// listener.name.<listener>.<name> if set, else name, else its default. ok
// is false when the config is unset with a null default. For
// sasl.jaas.config, name is "<mechanism>.sasl.jaas.config" with the
// mechanism in lower case, as Kafka spells it.
func ListenerValue(values map[string]string, listener, name string) (string, bool) {
	if v, ok := values["listener.name."+strings.ToLower(listener)+"."+name]; ok {
		return v, true
	}
	if v, ok := values[name]; ok {
		return v, true
	}
	d, ok := brokerByName[name]
	if !ok || d.NullDefault {
		return "", false
	}
	return d.Default, true
}
