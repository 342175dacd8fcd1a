package dev.skein.compat;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The Java client through a cluster's rolling restart.
 *
 * <p>An idempotent producer at acks=all sends records ("java-&lt;seq&gt;")
 * at a steady pace, and a consumer in a group reads them and commits with
 * commitSync after each poll, until the test writes a line to standard
 * input (or closes it), or the maximum duration passes. The client is
 * expected to ride out leader and coordinator moves on its own: any
 * exception that reaches the application (a failed send, an exception
 * from poll or commitSync) is a problem. At the end the producer is
 * flushed and the consumer must receive every acknowledged record within
 * a deadline.
 *
 * <p>Prints "READY" once the first record has been acknowledged and
 * consumed, then "PASS ..." or "FAIL ..." with the problems. Exit code 0
 * on PASS.
 *
 * <p>Usage: RollingCheck &lt;bootstrap&gt; &lt;topic&gt; &lt;group&gt;
 * &lt;max-seconds&gt;.
 */
public final class RollingCheck {
    static final Duration DRAIN_DEADLINE = Duration.ofSeconds(120);
    static final Duration POLL = Duration.ofMillis(200);
    static final long SEND_INTERVAL_MS = 5;

    final String bootstrap;
    final String topic;
    final String group;
    final long maxSeconds;
    final List<String> problems = Collections.synchronizedList(new ArrayList<>());
    final Set<String> acked = ConcurrentHashMap.newKeySet();
    final Set<String> consumed = ConcurrentHashMap.newKeySet();
    final AtomicLong sent = new AtomicLong();
    final AtomicLong failed = new AtomicLong();
    final AtomicLong commits = new AtomicLong();
    final AtomicLong rebalances = new AtomicLong();
    final AtomicBoolean stopProducing = new AtomicBoolean();
    final AtomicBoolean stopConsuming = new AtomicBoolean();
    final CountDownLatch ready = new CountDownLatch(1);

    RollingCheck(String bootstrap, String topic, String group, long maxSeconds) {
        this.bootstrap = bootstrap;
        this.topic = topic;
        this.group = group;
        this.maxSeconds = maxSeconds;
    }

    public static void main(String[] args) throws Exception {
        if (System.getProperty("org.slf4j.simpleLogger.defaultLogLevel") == null) {
            System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        }
        System.setProperty("org.slf4j.simpleLogger.showDateTime", "true");
        System.setProperty("org.slf4j.simpleLogger.dateTimeFormat", "HH:mm:ss.SSS");
        if (args.length < 4) {
            System.err.println("usage: RollingCheck <bootstrap> <topic> <group> <max-seconds>");
            System.exit(2);
        }
        RollingCheck c = new RollingCheck(args[0], args[1], args[2], Long.parseLong(args[3]));
        long start = System.nanoTime();
        try {
            c.run();
        } catch (Exception e) {
            c.problem("exception: " + e);
            e.printStackTrace(System.out);
        }
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        String stats = String.format("sent=%d acked=%d failed=%d consumed=%d commits=%d rebalances=%d (%d ms)",
                c.sent.get(), c.acked.size(), c.failed.get(), c.consumed.size(), c.commits.get(), c.rebalances.get(), ms);
        List<String> ps;
        synchronized (c.problems) {
            ps = new ArrayList<>(c.problems);
        }
        if (ps.isEmpty()) {
            System.out.println("PASS java rolling restart " + stats);
        } else {
            System.out.println("FAIL java rolling restart " + stats + ": " + ps.size() + " problem(s)");
            int shown = 0;
            for (String p : ps) {
                System.out.println("  " + p);
                if (++shown == 30) {
                    System.out.println("  ... " + (ps.size() - shown) + " more");
                    break;
                }
            }
        }
        System.out.flush();
        System.exit(ps.isEmpty() ? 0 : 1);
    }

    static void log(String format, Object... args) {
        System.out.printf("%tT.%<tL java: %s%n", System.currentTimeMillis(), String.format(format, args));
        System.out.flush();
    }

    void problem(String p) {
        log("problem: %s", p);
        if (problems.size() < 1000) {
            problems.add(p);
        }
    }

    void run() throws Exception {
        Thread consumer = new Thread(this::consume, "rolling-consumer");
        consumer.start();
        Properties pp = new Properties();
        pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        pp.put(ProducerConfig.CLIENT_ID_CONFIG, "java-rolling-producer");
        pp.put(ProducerConfig.ACKS_CONFIG, "all");
        pp.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        pp.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        // Whatever the test sends on stdin (or its closing) stops it.
        Thread stdin = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
                r.readLine();
            } catch (Exception e) {
                // closed: stop as well
            }
            stopProducing.set(true);
        }, "rolling-stdin");
        stdin.setDaemon(true);
        stdin.start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(maxSeconds);
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(pp)) {
            long seq = 0;
            boolean announced = false;
            while (!stopProducing.get() && System.nanoTime() < deadline) {
                String v = "java-" + seq++;
                sent.incrementAndGet();
                producer.send(new ProducerRecord<>(topic, v, v), (md, e) -> {
                    if (e != null) {
                        failed.incrementAndGet();
                        problem("send of " + v + " failed: " + e);
                    } else {
                        acked.add(v);
                    }
                });
                if (!announced && !acked.isEmpty() && !consumed.isEmpty()) {
                    announced = true;
                    ready.countDown();
                    System.out.println("READY");
                    System.out.flush();
                }
                Thread.sleep(SEND_INTERVAL_MS);
            }
            if (System.nanoTime() >= deadline) {
                problem("not told to stop within " + maxSeconds + " s");
            }
            log("stopping: flushing the producer");
            producer.flush();
        }
        log("producer closed: %d sent, %d acknowledged, %d failed", sent.get(), acked.size(), failed.get());
        long drainEnd = System.nanoTime() + DRAIN_DEADLINE.toNanos();
        while (System.nanoTime() < drainEnd && !consumed.containsAll(acked)) {
            Thread.sleep(50);
        }
        stopConsuming.set(true);
        consumer.join(TimeUnit.SECONDS.toMillis(60));
        if (consumer.isAlive()) {
            problem("the consumer thread did not stop");
        }
        long missing = acked.stream().filter(v -> !consumed.contains(v)).count();
        if (missing > 0) {
            problem(missing + " acknowledged records were not consumed within " + DRAIN_DEADLINE.getSeconds() + " s");
        }
    }

    void consume() {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, "java-rolling-consumer");
        p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(p)) {
            consumer.subscribe(List.of(topic), new ConsumerRebalanceListener() {
                @Override
                public void onPartitionsRevoked(Collection<TopicPartition> parts) {
                }

                @Override
                public void onPartitionsAssigned(Collection<TopicPartition> parts) {
                    rebalances.incrementAndGet();
                    log("assigned %s", parts);
                }
            });
            while (!stopConsuming.get()) {
                try {
                    ConsumerRecords<String, String> recs = consumer.poll(POLL);
                    for (ConsumerRecord<String, String> r : recs) {
                        consumed.add(r.value());
                    }
                    if (!recs.isEmpty()) {
                        consumer.commitSync();
                        commits.incrementAndGet();
                    }
                } catch (Exception e) {
                    problem("consumer: " + e);
                }
            }
        } catch (Exception e) {
            problem("consumer close: " + e);
        }
    }
}
