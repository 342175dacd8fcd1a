package dev.skein.compat;

import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import javax.net.ssl.SSLHandshakeException;

import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.SaslConfigs;
import org.apache.kafka.common.config.SslConfigs;
import org.apache.kafka.common.errors.SaslAuthenticationException;
import org.apache.kafka.common.errors.SslAuthenticationException;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.common.errors.TopicAuthorizationException;
import org.apache.kafka.common.errors.UnsupportedSaslMechanismException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * TLS and SASL check with the official Java client.
 *
 * <p>Usage: {@code SecurityCheck <mode> <bootstrap> [key=value ...]}. Modes:
 *
 * <ul>
 *   <li>{@code scram} (ca, user, password, topic, group, denied, visible, records):
 *       SASL_SSL with SCRAM-SHA-512;
 *   <li>{@code mtls} (ca, cert, key, topic, group, denied, visible, records): SSL with
 *       a client certificate, all PEM (ssl.keystore.type=PEM with the key and
 *       chain as values, ssl.truststore.type=PEM with a file).
 * </ul>
 *
 * Both produce the records with acks=all, consume them in a group, verify
 * each one and the committed offsets, and check the principal the broker
 * sees: the client lists exactly the topics its ACLs name (visible=a,b), and writing to or reading
 * from the denied topic fails with TopicAuthorizationException.
 *
 * <p>{@code scram-reauth} (ca, user, password, topic, seconds) produces a
 * record every 200 ms for that long against a broker whose SASL sessions
 * expire sooner (connections.max.reauth.ms): the producer must
 * re-authenticate on its connections (KIP-368) without losing one.
 *
 * <p>Rejections, each with an admin client, a producer and a consumer, all
 * of them bounded by client timeouts:
 *
 * <ul>
 *   <li>{@code scram-rejected} (ca, user, password): SaslAuthenticationException
 *       with Kafka's message for SCRAM-SHA-512;
 *   <li>{@code mechanism-rejected} (ca, user, password, mechanism, enabled):
 *       UnsupportedSaslMechanismException naming the broker's enabled
 *       mechanisms;
 *   <li>{@code mtls-rejected} (ca, [cert, key], alert, [protocol]):
 *       SslAuthenticationException caused by the broker's TLS alert (with
 *       TLS 1.3 the client learns of it after its side of the handshake);
 *   <li>{@code tls-to-plaintext} (ca): TLS to a PLAINTEXT listener;
 *   <li>{@code plaintext-to-tls}: plaintext to an SSL listener.
 * </ul>
 *
 * The last two are disconnected by the broker and retry: they must end in
 * TimeoutException after connections were made and closed, with no
 * authentication ever succeeding.
 *
 * <p>Exit status 0 only when the check passed.
 */
public final class SecurityCheck {
    static final String SCRAM_FAILED =
            "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512";
    static final Duration DEADLINE = Duration.ofSeconds(90);
    /**
     * Client timeouts of the rejection checks: long for the rejections the
     * broker reports (they end at once; a loaded machine may need seconds
     * for the JVM's first handshake), short for those where the client
     * only sees disconnections and retries until its timeout.
     */
    int rejectTimeoutMs() {
        return mode.equals("tls-to-plaintext") || mode.equals("plaintext-to-tls") ? 5000 : 30000;
    }
    /** What the client logged (slf4j-simple writes to System.err), for the rejections it only logs. */
    static final StringBuffer CLIENT_LOG = new StringBuffer();

    final String mode;
    final String bootstrap;
    final Map<String, String> opts = new HashMap<>();
    final List<String> problems = new ArrayList<>();

    SecurityCheck(String mode, String bootstrap) {
        this.mode = mode;
        this.bootstrap = bootstrap;
    }

    public static void main(String[] args) throws Exception {
        if (System.getProperty("org.slf4j.simpleLogger.defaultLogLevel") == null) {
            System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        }
        // INFO logs each disconnection ("Node -1 disconnected."), which
        // the rejections that only disconnect check.
        System.setProperty("org.slf4j.simpleLogger.log.org.apache.kafka.clients.NetworkClient", "info");
        System.setProperty("org.slf4j.simpleLogger.showDateTime", "true");
        System.setProperty("org.slf4j.simpleLogger.dateTimeFormat", "HH:mm:ss.SSS");
        PrintStream err = System.err;
        System.setErr(new PrintStream(new OutputStream() {
            @Override
            public void write(int b) {
                err.write(b);
                CLIENT_LOG.append((char) b);
            }

            @Override
            public void write(byte[] b, int off, int len) {
                err.write(b, off, len);
                CLIENT_LOG.append(new String(b, off, len, StandardCharsets.UTF_8));
            }
        }, true, StandardCharsets.UTF_8));
        if (args.length < 2) {
            System.err.println("usage: SecurityCheck scram|mtls|scram-reauth|scram-rejected|mechanism-rejected|mtls-rejected|tls-to-plaintext|plaintext-to-tls <bootstrap> [key=value ...]");
            System.exit(2);
        }
        SecurityCheck c = new SecurityCheck(args[0], args[1]);
        for (int i = 2; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            if (eq < 0) {
                System.err.println("not key=value: " + args[i]);
                System.exit(2);
            }
            c.opts.put(args[i].substring(0, eq), args[i].substring(eq + 1));
        }
        long start = System.nanoTime();
        try {
            switch (c.mode) {
                case "scram", "mtls" -> c.exchange();
                case "scram-reauth" -> c.reauth();
                case "scram-rejected", "mechanism-rejected", "mtls-rejected", "tls-to-plaintext", "plaintext-to-tls" -> c.rejected();
                default -> {
                    System.err.println("unknown mode " + c.mode);
                    System.exit(2);
                }
            }
        } catch (Exception e) {
            c.problems.add("exception: " + e);
            e.printStackTrace(System.out);
        }
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        if (c.problems.isEmpty()) {
            System.out.printf("PASS java security %s (%d ms)%n", c.mode, ms);
        } else {
            System.out.printf("FAIL java security %s: %d problem(s) (%d ms)%n", c.mode, c.problems.size(), ms);
            for (String p : c.problems.subList(0, Math.min(30, c.problems.size()))) {
                System.out.println("  " + p);
            }
        }
        System.out.flush();
        System.exit(c.problems.isEmpty() ? 0 : 1);
    }

    static void log(String format, Object... args) {
        System.out.printf("%tT.%<tL java: %s%n", System.currentTimeMillis(), String.format(format, args));
        System.out.flush();
    }

    String opt(String key) {
        String v = opts.get(key);
        if (v == null) {
            throw new IllegalArgumentException("mode " + mode + " needs " + key + "=...");
        }
        return v;
    }

    static String jaasQuote(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }

    /** The connection and security settings of the mode. */
    Properties security(String clientId) throws Exception {
        Properties p = new Properties();
        p.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(CommonClientConfigs.CLIENT_ID_CONFIG, clientId);
        switch (mode) {
            case "scram", "scram-reauth", "scram-rejected", "mechanism-rejected" -> {
                p.put(CommonClientConfigs.SECURITY_PROTOCOL_CONFIG, "SASL_SSL");
                p.put(SaslConfigs.SASL_MECHANISM, opts.getOrDefault("mechanism", "SCRAM-SHA-512"));
                p.put(SaslConfigs.SASL_JAAS_CONFIG, "org.apache.kafka.common.security.scram.ScramLoginModule required username="
                        + jaasQuote(opt("user")) + " password=" + jaasQuote(opt("password")) + ";");
                trust(p);
            }
            case "mtls", "mtls-rejected" -> {
                p.put(CommonClientConfigs.SECURITY_PROTOCOL_CONFIG, "SSL");
                trust(p);
                if (opts.containsKey("cert")) {
                    p.put(SslConfigs.SSL_KEYSTORE_TYPE_CONFIG, "PEM");
                    p.put(SslConfigs.SSL_KEYSTORE_CERTIFICATE_CHAIN_CONFIG, Files.readString(Path.of(opt("cert"))));
                    p.put(SslConfigs.SSL_KEYSTORE_KEY_CONFIG, Files.readString(Path.of(opt("key"))));
                }
                if (opts.containsKey("protocol")) {
                    p.put(SslConfigs.SSL_PROTOCOL_CONFIG, opt("protocol"));
                    p.put(SslConfigs.SSL_ENABLED_PROTOCOLS_CONFIG, opt("protocol"));
                }
            }
            case "tls-to-plaintext" -> {
                p.put(CommonClientConfigs.SECURITY_PROTOCOL_CONFIG, "SSL");
                trust(p);
            }
            case "plaintext-to-tls" -> p.put(CommonClientConfigs.SECURITY_PROTOCOL_CONFIG, "PLAINTEXT");
            default -> throw new IllegalArgumentException("mode " + mode);
        }
        return p;
    }

    void trust(Properties p) {
        p.put(SslConfigs.SSL_TRUSTSTORE_TYPE_CONFIG, "PEM");
        p.put(SslConfigs.SSL_TRUSTSTORE_LOCATION_CONFIG, opt("ca"));
    }

    static String valueFor(String mode, int i) {
        StringBuilder sb = new StringBuilder(mode).append("-value-").append(i).append('-');
        for (int j = 0; j < i % 200; j++) {
            sb.append((char) ('a' + (i + j) % 26));
        }
        return sb.toString();
    }

    /** Produces, consumes in a group and verifies; checks the principal. */
    void exchange() throws Exception {
        String topic = opt("topic");
        String group = opt("group");
        String denied = opt("denied");
        int n = Integer.parseInt(opts.getOrDefault("records", "500"));

        try (Admin admin = Admin.create(security("compat-java-" + mode + "-admin"))) {
            Set<String> visible = admin.listTopics().names().get(30, TimeUnit.SECONDS);
            Set<String> want = new TreeSet<>(List.of(opt("visible").split(",")));
            log("%s: visible topics %s", mode, visible);
            if (!visible.equals(want)) {
                problems.add("visible topics " + new TreeSet<>(visible) + ", want exactly " + want + ": the topics the principal's ACLs name");
            }
        }

        // partition -> offset -> key, value
        Map<Integer, TreeMap<Long, String[]>> sent = new TreeMap<>();
        Properties pp = security("compat-java-" + mode + "-producer");
        pp.put(ProducerConfig.ACKS_CONFIG, "all");
        pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        pp.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "30000");
        pp.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "60000");
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(pp)) {
            List<Future<RecordMetadata>> futures = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                futures.add(producer.send(new ProducerRecord<>(topic, "key-" + i, valueFor(mode, i))));
            }
            for (int i = 0; i < n; i++) {
                RecordMetadata md = futures.get(i).get(60, TimeUnit.SECONDS);
                String[] prev = sent.computeIfAbsent(md.partition(), k -> new TreeMap<>())
                        .put(md.offset(), new String[] {"key-" + i, valueFor(mode, i)});
                if (prev != null) {
                    problems.add("two records acknowledged at " + md.partition() + "/" + md.offset());
                }
            }
            log("%s: produced %d records to %s over %d partitions", mode, n, topic, sent.size());
            try {
                RecordMetadata md = producer.send(new ProducerRecord<>(denied, "k", "v")).get(30, TimeUnit.SECONDS);
                problems.add("produced to " + denied + " at " + md + " without an ACL");
            } catch (ExecutionException e) {
                if (e.getCause() instanceof TopicAuthorizationException) {
                    log("%s: producing to %s: %s", mode, denied, e.getCause());
                } else {
                    problems.add("producing to " + denied + ": " + e.getCause() + ", want TopicAuthorizationException");
                }
            }
        }

        Properties cp = security("compat-java-" + mode + "-consumer");
        cp.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        cp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        cp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        cp.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(cp)) {
            consumer.subscribe(List.of(topic));
            Set<String> seen = new HashSet<>();
            long deadline = System.nanoTime() + DEADLINE.toNanos();
            while (seen.size() < n && System.nanoTime() < deadline) {
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) {
                    String at = r.partition() + "/" + r.offset();
                    TreeMap<Long, String[]> part = sent.get(r.partition());
                    String[] want = part == null ? null : part.get(r.offset());
                    if (want == null) {
                        problems.add("consumed a record at " + at + " that was not produced");
                    } else if (!want[0].equals(r.key()) || !want[1].equals(r.value())) {
                        problems.add("record at " + at + ": key " + r.key() + ", want " + want[0] + "; value differs: " + !want[1].equals(r.value()));
                    }
                    if (!seen.add(at)) {
                        problems.add("record at " + at + " consumed twice");
                    }
                }
            }
            if (seen.size() != n) {
                problems.add("consumed " + seen.size() + " of " + n + " records within " + DEADLINE);
            }
            consumer.commitSync();
            Set<TopicPartition> parts = new HashSet<>();
            for (int p : sent.keySet()) {
                parts.add(new TopicPartition(topic, p));
            }
            Map<TopicPartition, OffsetAndMetadata> committed = consumer.committed(parts);
            for (TopicPartition tp : parts) {
                long want = sent.get(tp.partition()).lastKey() + 1;
                OffsetAndMetadata got = committed.get(tp);
                if (got == null || got.offset() != want) {
                    problems.add("committed offset of " + tp + ": " + got + ", want " + want);
                }
            }
            log("%s: consumed %d records in group %s and committed", mode, seen.size(), group);
        }

        Properties dp = security("compat-java-" + mode + "-denied-consumer");
        dp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        dp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        dp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(dp)) {
            consumer.assign(List.of(new TopicPartition(denied, 0)));
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            boolean refused = false;
            while (!refused && System.nanoTime() < deadline) {
                try {
                    int got = consumer.poll(Duration.ofMillis(200)).count();
                    if (got > 0) {
                        problems.add("read " + got + " records of " + denied + " without an ACL");
                        break;
                    }
                } catch (TopicAuthorizationException e) {
                    log("%s: reading %s: %s", mode, denied, e);
                    refused = true;
                }
            }
            if (!refused) {
                problems.add("reading " + denied + " raised no TopicAuthorizationException within 30s");
            }
        }
    }

    /**
     * Produces one record every 200 ms for seconds=N seconds on one
     * connection while the broker's SASL sessions last a fraction of that
     * (connections.max.reauth.ms): the producer must re-authenticate
     * (KIP-368) on its connections, never lose one, and get every record
     * acknowledged.
     */
    void reauth() throws Exception {
        String topic = opt("topic");
        long seconds = Long.parseLong(opt("seconds"));
        Properties pp = security("compat-java-" + mode + "-producer");
        pp.put(ProducerConfig.ACKS_CONFIG, "all");
        pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        pp.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "30000");
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(pp)) {
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
            int sent = 0;
            while (System.nanoTime() < end) {
                producer.send(new ProducerRecord<>(topic, "reauth-" + sent, valueFor(mode, sent))).get(30, TimeUnit.SECONDS);
                sent++;
                Thread.sleep(200);
            }
            Map<MetricName, ? extends Metric> m = producer.metrics();
            double reauthOK = metric(m, "successful-reauthentication-total");
            double reauthFailed = metric(m, "failed-reauthentication-total");
            double created = metric(m, "connection-creation-total");
            double closed = metric(m, "connection-close-total");
            log("%s: %d records acknowledged in %ds; re-authentications ok %.0f, failed %.0f; connections created %.0f, closed %.0f",
                    mode, sent, seconds, reauthOK, reauthFailed, created, closed);
            if (reauthOK < 2 || reauthFailed > 0) {
                problems.add(reauthOK + " successful and " + reauthFailed + " failed re-authentications, want at least 2 and none");
            }
            if (closed > 0) {
                problems.add(closed + " connections closed: the session must be renewed on the connection");
            }
        }
    }

    /** Checks that an admin client, a producer and a consumer are each refused as the mode expects. */
    void rejected() throws Exception {
        Properties ap = security("compat-java-" + mode + "-admin");
        ap.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, String.valueOf(rejectTimeoutMs()));
        ap.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, String.valueOf(rejectTimeoutMs()));
        try (Admin admin = Admin.create(ap)) {
            int logFrom = CLIENT_LOG.length();
            Throwable err = null;
            try {
                String id = admin.describeCluster().clusterId().get(60, TimeUnit.SECONDS);
                problems.add("admin: described cluster " + id);
            } catch (ExecutionException e) {
                err = e.getCause();
            }
            expect("admin", err, admin.metrics(), logFrom);
        }

        Properties pp = security("compat-java-" + mode + "-producer");
        pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        pp.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, String.valueOf(rejectTimeoutMs()));
        pp.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, String.valueOf(rejectTimeoutMs()));
        pp.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, String.valueOf(rejectTimeoutMs() + 1000));
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(pp)) {
            int logFrom = CLIENT_LOG.length();
            Throwable err = null;
            try {
                RecordMetadata md = producer.send(new ProducerRecord<>("compat-security-rejected", "k", "v")).get(60, TimeUnit.SECONDS);
                problems.add("producer: produced at " + md);
            } catch (ExecutionException e) {
                err = e.getCause();
            } catch (org.apache.kafka.common.KafkaException e) {
                err = e;
            }
            expect("producer", err, producer.metrics(), logFrom);
        }

        Properties cp = security("compat-java-" + mode + "-consumer");
        cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        cp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        cp.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, String.valueOf(rejectTimeoutMs()));
        cp.put(ConsumerConfig.REQUEST_TIMEOUT_MS_CONFIG, String.valueOf(rejectTimeoutMs()));
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(cp)) {
            int logFrom = CLIENT_LOG.length();
            Throwable err = null;
            try {
                var parts = consumer.partitionsFor("compat-security-rejected", Duration.ofMillis(rejectTimeoutMs()));
                problems.add("consumer: got partitions " + parts);
            } catch (org.apache.kafka.common.KafkaException e) {
                err = e;
            }
            expect("consumer", err, consumer.metrics(), logFrom);
        }
    }

    static double metric(Map<MetricName, ? extends Metric> metrics, String name) {
        double sum = 0;
        for (Map.Entry<MetricName, ? extends Metric> e : metrics.entrySet()) {
            if (e.getKey().name().equals(name) && e.getKey().tags().size() == 1) { // client-id only
                Object v = e.getValue().metricValue();
                if (v instanceof Double d) {
                    sum += d;
                }
            }
        }
        return sum;
    }

    /**
     * Checks err is what the mode's rejection must raise; metrics are the
     * client's, logFrom where its log began.
     */
    void expect(String who, Throwable err, Map<MetricName, ? extends Metric> metrics, int logFrom) {
        double created = metric(metrics, "connection-creation-total");
        double closed = metric(metrics, "connection-close-total");
        double authOK = metric(metrics, "successful-authentication-total");
        double authFailed = metric(metrics, "failed-authentication-total");
        log("%s %s: %s (connections created %.0f, closed %.0f; authentications ok %.0f, failed %.0f)",
                mode, who, err, created, closed, authOK, authFailed);
        if (err == null) {
            return; // the success was recorded as a problem
        }
        if (created < 1) {
            problems.add(who + ": no connection was made");
        }
        switch (mode) {
            case "scram-rejected" -> {
                if (!(err instanceof SaslAuthenticationException) || !SCRAM_FAILED.equals(err.getMessage())) {
                    problems.add(who + ": " + err + ", want SaslAuthenticationException: " + SCRAM_FAILED);
                }
                if (authOK > 0 || authFailed < 1) {
                    problems.add(who + ": " + authOK + " successful and " + authFailed + " failed authentications, want 0 and at least 1");
                }
            }
            case "mechanism-rejected" -> {
                // The client builds the message from the broker's list of
                // enabled mechanisms.
                String want = "Client SASL mechanism '" + opt("mechanism") + "' not enabled in the server, enabled mechanisms are ["
                        + opt("enabled") + "]";
                if (!(err instanceof UnsupportedSaslMechanismException) || !want.equals(err.getMessage())) {
                    problems.add(who + ": " + err + ", want UnsupportedSaslMechanismException: " + want);
                }
                if (authOK > 0) {
                    problems.add(who + ": " + authOK + " successful authentications");
                }
            }
            case "mtls-rejected" -> {
                String alert = "Received fatal alert: " + opt("alert");
                if ("TLSv1.2".equals(opts.get("protocol"))) {
                    if (!(err instanceof SslAuthenticationException) || !"SSL handshake failed".equals(err.getMessage())) {
                        problems.add(who + ": " + err + ", want SslAuthenticationException: SSL handshake failed");
                    }
                    if (authOK > 0 || authFailed < 1) {
                        problems.add(who + ": " + authOK + " successful and " + authFailed + " failed authentications, want 0 and at least 1");
                    }
                } else {
                    // With TLS 1.3 the client completes its side of the
                    // handshake (counting a successful authentication)
                    // before the broker has checked its certificate; the
                    // broker's alert then fails the first read, which the
                    // client reports as below (as against a Kafka broker).
                    String want = "Failed to process post-handshake messages";
                    if (!(err instanceof SslAuthenticationException) || !want.equals(err.getMessage())) {
                        problems.add(who + ": " + err + ", want SslAuthenticationException: " + want);
                    }
                }
                if (err.getCause() == null || !(err.getCause() instanceof SSLHandshakeException) || !err.getCause().getMessage().contains(alert)) {
                    problems.add(who + ": caused by " + err.getCause() + ", want SSLHandshakeException: " + alert);
                }
            }
            case "tls-to-plaintext", "plaintext-to-tls" -> {
                // The broker closes each connection at once; the client
                // retries until its timeout, logging each disconnection:
                // during the TLS handshake, or after its ApiVersions
                // request.
                String want = mode.equals("tls-to-plaintext")
                        ? "terminated during authentication"
                        : "disconnected";
                if (!(err instanceof TimeoutException)) {
                    problems.add(who + ": " + err + ", want TimeoutException after the broker closed the connections");
                }
                if (closed < 1 || authOK > 0 || authFailed > 0) {
                    problems.add(who + ": " + closed + " connections closed, " + authOK + " successful and " + authFailed
                            + " failed authentications, want some closed and none authenticated");
                }
                String logged = CLIENT_LOG.substring(logFrom);
                if (!logged.contains(want)) {
                    problems.add(who + ": the client's log does not say \"" + want + "\"");
                }
                if (mode.equals("plaintext-to-tls") && logged.contains("terminated during authentication")) {
                    problems.add(who + ": a plaintext connection was in authentication");
                }
            }
            default -> throw new IllegalArgumentException(mode);
        }
    }
}
