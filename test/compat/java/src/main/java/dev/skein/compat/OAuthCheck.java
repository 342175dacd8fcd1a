package dev.skein.compat;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.SaslConfigs;
import org.apache.kafka.common.config.SslConfigs;
import org.apache.kafka.common.errors.SaslAuthenticationException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * SASL/OAUTHBEARER check with the official Java client and its stock login
 * callback handler (OAuthBearerLoginCallbackHandler), which reads the
 * access token from a file: URL given as sasl.oauthbearer.token.endpoint.url
 * (the URL must also be listed in the system property
 * org.apache.kafka.sasl.oauthbearer.allowed.urls).
 *
 * <p>With the good token, over SASL_PLAINTEXT and SASL_SSL: an admin
 * client creates a topic, an idempotent producer writes records with
 * acks=all, and a consumer reads them all back in order. With the expired
 * token: an admin client and a producer must fail with
 * SaslAuthenticationException carrying the broker's
 * {"status":"invalid_token"}, within a deadline.
 *
 * <p>Usage: OAuthCheck &lt;sasl-plaintext-bootstrap&gt;
 * &lt;sasl-ssl-bootstrap&gt; &lt;ca-pem&gt; &lt;good-token-url&gt;
 * &lt;expired-token-url&gt; &lt;topic-prefix&gt;
 *
 * <p>Exit status 0 only when every check passed.
 */
public final class OAuthCheck {
    static final int RECORDS = 200;
    static final Duration DEADLINE = Duration.ofSeconds(60);

    static Properties base(String bootstrap, String protocol, String ca, String tokenUrl) {
        Properties p = new Properties();
        p.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(CommonClientConfigs.SECURITY_PROTOCOL_CONFIG, protocol);
        p.put(SaslConfigs.SASL_MECHANISM, "OAUTHBEARER");
        p.put(SaslConfigs.SASL_JAAS_CONFIG, "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required ;");
        p.put(SaslConfigs.SASL_LOGIN_CALLBACK_HANDLER_CLASS,
                "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler");
        p.put(SaslConfigs.SASL_OAUTHBEARER_TOKEN_ENDPOINT_URL, tokenUrl);
        if (protocol.equals("SASL_SSL")) {
            p.put(SslConfigs.SSL_TRUSTSTORE_TYPE_CONFIG, "PEM");
            p.put(SslConfigs.SSL_TRUSTSTORE_LOCATION_CONFIG, ca);
        }
        return p;
    }

    static void check(boolean ok, String msg) {
        if (!ok) {
            throw new IllegalStateException(msg);
        }
    }

    static void produceConsume(String bootstrap, String protocol, String ca, String tokenUrl, String topic) throws Exception {
        Properties p = base(bootstrap, protocol, ca, tokenUrl);
        try (Admin admin = Admin.create(p)) {
            admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get(DEADLINE.toMillis(), TimeUnit.MILLISECONDS);
        }
        Properties pp = base(bootstrap, protocol, ca, tokenUrl);
        pp.put(ProducerConfig.ACKS_CONFIG, "all");
        pp.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(pp)) {
            for (int i = 0; i < RECORDS; i++) {
                producer.send(new ProducerRecord<>(topic, 0, "k" + i, "value-" + i));
            }
            producer.flush();
            producer.send(new ProducerRecord<>(topic, 0, "last", "value-last")).get(DEADLINE.toMillis(), TimeUnit.MILLISECONDS);
        }
        Properties cp = base(bootstrap, protocol, ca, tokenUrl);
        cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        cp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        List<String> got = new ArrayList<>();
        long deadline = System.nanoTime() + DEADLINE.toNanos();
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(cp)) {
            TopicPartition tp = new TopicPartition(topic, 0);
            consumer.assign(List.of(tp));
            consumer.seekToBeginning(List.of(tp));
            while (got.size() < RECORDS + 1) {
                check(System.nanoTime() < deadline, protocol + ": consumed " + got.size() + " of " + (RECORDS + 1) + " records before the deadline");
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) {
                    check(r.offset() == got.size(), protocol + ": offset " + r.offset() + " where " + got.size() + " was expected");
                    got.add(r.value());
                }
            }
        }
        for (int i = 0; i < RECORDS; i++) {
            check(got.get(i).equals("value-" + i), protocol + ": record " + i + " is " + got.get(i));
        }
        check(got.get(RECORDS).equals("value-last"), protocol + ": last record is " + got.get(RECORDS));
        System.out.printf("%s: produced and consumed %d records as the token's principal%n", protocol, RECORDS + 1);
    }

    /** Returns the SaslAuthenticationException in t's causes, or null. */
    static SaslAuthenticationException saslCause(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof SaslAuthenticationException) {
                return (SaslAuthenticationException) c;
            }
        }
        return null;
    }

    static void expectRefused(String what, SaslAuthenticationException e, long startNanos) {
        check(e != null, what + ": no SaslAuthenticationException");
        check(e.getMessage() != null && e.getMessage().contains("{\"status\":\"invalid_token\"}"),
                what + ": message " + e.getMessage());
        System.out.printf("expired token, %s: refused after %d ms: %s%n", what,
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNanos), e.getMessage());
    }

    static void expired(String bootstrap, String tokenUrl, String topic) throws Exception {
        Properties p = base(bootstrap, "SASL_PLAINTEXT", null, tokenUrl);
        p.put(CommonClientConfigs.DEFAULT_API_TIMEOUT_MS_CONFIG, String.valueOf(DEADLINE.toMillis()));
        long start = System.nanoTime();
        try (Admin admin = Admin.create(p)) {
            admin.describeCluster().nodes().get(DEADLINE.toMillis(), TimeUnit.MILLISECONDS);
            throw new IllegalStateException("admin client: the expired token was accepted");
        } catch (ExecutionException e) {
            expectRefused("admin client", saslCause(e), start);
        }
        Properties pp = base(bootstrap, "SASL_PLAINTEXT", null, tokenUrl);
        pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        pp.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, String.valueOf(DEADLINE.toMillis()));
        start = System.nanoTime();
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(pp)) {
            producer.send(new ProducerRecord<>(topic, "k", "v")).get(DEADLINE.toMillis(), TimeUnit.MILLISECONDS);
            throw new IllegalStateException("producer: the expired token was accepted");
        } catch (ExecutionException | SaslAuthenticationException e) {
            expectRefused("producer", saslCause(e), start);
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 6) {
            System.err.println("usage: OAuthCheck <sasl-plaintext-bootstrap> <sasl-ssl-bootstrap> <ca-pem> <good-token-url> <expired-token-url> <topic-prefix>");
            System.exit(2);
        }
        String plain = args[0], ssl = args[1], ca = args[2], good = args[3], expiredUrl = args[4], prefix = args[5];
        try {
            produceConsume(plain, "SASL_PLAINTEXT", ca, good, prefix + "-java-oauth-plain");
            produceConsume(ssl, "SASL_SSL", ca, good, prefix + "-java-oauth-ssl");
            expired(plain, expiredUrl, prefix + "-java-oauth-expired");
        } catch (Exception e) {
            System.err.println("FAIL: " + e);
            e.printStackTrace();
            System.exit(1);
        }
        System.out.println("PASS: java kafka-clients OAUTHBEARER");
        System.exit(0);
    }
}
