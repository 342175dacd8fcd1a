package dev.skein.compat;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.record.TimestampType;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Creates one topic per compression codec, produces a deterministic set of
 * records to it with acks=all, reads everything back from the beginning and
 * verifies every record byte for byte and in offset order.
 *
 * <p>Usage: {@code CompatCheck <bootstrap> <topic-prefix> [codec,codec,...]}
 *
 * <p>Exit status 0 only when every codec passed.
 */
public final class CompatCheck {
    static final String[] ALL_CODECS = {"none", "gzip", "snappy", "lz4", "zstd"};
    static final int PARTITIONS = 3;
    static final long BASE_TIMESTAMP = 1_700_000_000_000L;
    static final int[] VALUE_SIZES = {0, 1, 17, 100, 255, 700, 2048, 333, 64, 5000};
    static final long CONSUME_TIMEOUT_MS = 180_000;

    /** One record as sent, plus where the broker said it landed. */
    static final class Sent {
        final int index;
        final byte[] key;
        final byte[] value;
        final List<Header> headers;
        final long timestamp;
        volatile int partition = -1;
        volatile long offset = -1;

        Sent(int index) {
            this.index = index;
            this.key = keyFor(index);
            this.value = valueFor(index);
            this.headers = headersFor(index);
            this.timestamp = BASE_TIMESTAMP + 3L * index;
        }
    }

    static byte[] keyFor(int i) {
        if (i % 7 == 3) {
            return null;
        }
        if (i % 11 == 5) {
            return new byte[0];
        }
        byte[] text = ("key-" + i).getBytes(StandardCharsets.US_ASCII);
        byte[] k = Arrays.copyOf(text, text.length + 3);
        k[text.length] = (byte) (i & 0xff);
        k[text.length + 1] = 0;
        k[text.length + 2] = (byte) 0xff;
        return k;
    }

    static byte[] valueFor(int i) {
        if (i % 97 == 13) {
            return null;
        }
        int size = VALUE_SIZES[i % VALUE_SIZES.length];
        byte[] v = new byte[size];
        for (int j = 0; j < size; j++) {
            if (j % 64 < 48) {
                v[j] = (byte) ('a' + (i + j) % 26);
            } else {
                v[j] = (byte) (((i * 31 + j * 17) ^ (j >>> 3)) & 0xff);
            }
        }
        return v;
    }

    static List<Header> headersFor(int i) {
        List<Header> hs = new ArrayList<>();
        int n = i % 4;
        if (n >= 1) {
            hs.add(new RecordHeader("h-a", ("v" + i).getBytes(StandardCharsets.UTF_8)));
        }
        if (n >= 2) {
            hs.add(new RecordHeader("h-b", i % 5 == 0 ? null : new byte[0]));
        }
        if (n >= 3) {
            // A repeated key: order and duplicates must both survive.
            hs.add(new RecordHeader("h-a", new byte[] {0, (byte) 0xff, (byte) (i & 0xff)}));
        }
        return hs;
    }

    static String describe(byte[] b) {
        if (b == null) {
            return "null";
        }
        if (b.length <= 32) {
            StringBuilder sb = new StringBuilder("[" + b.length + "]");
            for (byte x : b) {
                sb.append(String.format("%02x", x & 0xff));
            }
            return sb.toString();
        }
        return "[" + b.length + " bytes, hash " + Arrays.hashCode(b) + "]";
    }

    static String describe(List<Header> hs) {
        StringBuilder sb = new StringBuilder("{");
        for (Header h : hs) {
            sb.append(h.key()).append('=').append(describe(h.value())).append(' ');
        }
        return sb.append('}').toString();
    }

    static boolean sameHeaders(List<Header> want, Header[] got) {
        if (want.size() != got.length) {
            return false;
        }
        for (int i = 0; i < got.length; i++) {
            if (!want.get(i).key().equals(got[i].key())
                    || !Arrays.equals(want.get(i).value(), got[i].value())) {
                return false;
            }
        }
        return true;
    }

    public static void main(String[] args) throws Exception {
        if (System.getProperty("org.slf4j.simpleLogger.defaultLogLevel") == null) {
            System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        }
        if (args.length < 2 || args.length > 3) {
            System.err.println("usage: CompatCheck <bootstrap> <topic-prefix> [codec,codec,...]");
            System.exit(2);
        }
        String bootstrap = args[0];
        String prefix = args[1];
        String[] codecs = args.length == 3 ? args[2].split(",") : ALL_CODECS;
        int records = Integer.parseInt(System.getenv().getOrDefault("COMPAT_RECORDS", "10000"));

        List<String> failures = new ArrayList<>();
        for (String codec : codecs) {
            String topic = prefix + "-java-" + codec;
            long start = System.nanoTime();
            try {
                List<String> problems = runCodec(bootstrap, topic, codec, records);
                long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
                if (problems.isEmpty()) {
                    System.out.printf("PASS java codec=%s topic=%s records=%d (%d ms)%n", codec, topic, records, ms);
                } else {
                    System.out.printf("FAIL java codec=%s topic=%s: %d problem(s) (%d ms)%n", codec, topic, problems.size(), ms);
                    int shown = 0;
                    for (String p : problems) {
                        System.out.println("  " + p);
                        if (++shown == 20) {
                            System.out.println("  ... " + (problems.size() - shown) + " more");
                            break;
                        }
                    }
                    failures.add(codec);
                }
            } catch (Exception e) {
                System.out.printf("FAIL java codec=%s topic=%s: %s%n", codec, topic, e);
                e.printStackTrace(System.out);
                failures.add(codec);
            }
            System.out.flush();
        }
        System.out.printf("java summary: %d passed, %d failed%s%n",
                codecs.length - failures.size(), failures.size(),
                failures.isEmpty() ? "" : " " + failures);
        System.exit(failures.isEmpty() ? 0 : 1);
    }

    static void createTopic(String bootstrap, String topic) throws Exception {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(AdminClientConfig.CLIENT_ID_CONFIG, "compat-java-admin");
        try (Admin admin = Admin.create(p)) {
            admin.createTopics(List.of(new NewTopic(topic, PARTITIONS, (short) 1)))
                    .all().get(60, TimeUnit.SECONDS);
        }
    }

    static List<String> runCodec(String bootstrap, String topic, String codec, int records) throws Exception {
        List<String> problems = new ArrayList<>();
        createTopic(bootstrap, topic);

        // Produce.
        Properties pp = new Properties();
        pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        pp.put(ProducerConfig.CLIENT_ID_CONFIG, "compat-java-producer");
        pp.put(ProducerConfig.ACKS_CONFIG, "all");
        pp.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, codec);
        // Plain (non-idempotent) producer: this scenario exercises acks=all
        // produce; idempotent producing is not part of it.
        pp.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "false");
        pp.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());

        List<Sent> sent = new ArrayList<>(records);
        AtomicReference<Exception> sendError = new AtomicReference<>();
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(pp)) {
            int n = producer.partitionsFor(topic).size();
            if (n != PARTITIONS) {
                throw new IllegalStateException("topic " + topic + " has " + n + " partitions, want " + PARTITIONS);
            }
            for (int i = 0; i < records; i++) {
                Sent s = new Sent(i);
                sent.add(s);
                ProducerRecord<byte[], byte[]> rec =
                        new ProducerRecord<>(topic, null, s.timestamp, s.key, s.value, s.headers);
                producer.send(rec, (RecordMetadata md, Exception e) -> {
                    if (e != null) {
                        sendError.compareAndSet(null, e);
                        return;
                    }
                    s.partition = md.partition();
                    s.offset = md.offset();
                    if (md.timestamp() != s.timestamp) {
                        synchronized (problems) {
                            problems.add("record " + s.index + ": ack timestamp " + md.timestamp() + ", want " + s.timestamp);
                        }
                    }
                });
            }
            producer.flush();
        }
        if (sendError.get() != null) {
            throw new IllegalStateException("produce failed", sendError.get());
        }

        // Group what the acks said by partition, in offset order.
        Map<Integer, List<Sent>> byPartition = new HashMap<>();
        for (int p = 0; p < PARTITIONS; p++) {
            byPartition.put(p, new ArrayList<>());
        }
        for (Sent s : sent) {
            if (s.partition < 0 || s.partition >= PARTITIONS) {
                problems.add("record " + s.index + ": acked partition " + s.partition);
                continue;
            }
            byPartition.get(s.partition).add(s);
        }
        for (Map.Entry<Integer, List<Sent>> e : byPartition.entrySet()) {
            List<Sent> list = e.getValue();
            // Send order within a partition must equal offset order.
            for (int j = 1; j < list.size(); j++) {
                if (list.get(j).offset <= list.get(j - 1).offset) {
                    problems.add("partition " + e.getKey() + ": record " + list.get(j).index + " acked at offset "
                            + list.get(j).offset + " after record " + list.get(j - 1).index + " at "
                            + list.get(j - 1).offset);
                }
            }
            list.sort(Comparator.comparingLong(s -> s.offset));
            // A fresh topic written without transactions has dense offsets from 0.
            for (int j = 0; j < list.size(); j++) {
                if (list.get(j).offset != j) {
                    problems.add("partition " + e.getKey() + ": acked offsets are not 0.." + (list.size() - 1)
                            + " (position " + j + " has offset " + list.get(j).offset + ")");
                    break;
                }
            }
        }
        if (!problems.isEmpty()) {
            return problems;
        }

        // Consume everything back without a group.
        Properties cp = new Properties();
        cp.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        cp.put(ConsumerConfig.CLIENT_ID_CONFIG, "compat-java-consumer");
        cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        cp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        cp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());

        List<TopicPartition> tps = new ArrayList<>();
        for (int p = 0; p < PARTITIONS; p++) {
            tps.add(new TopicPartition(topic, p));
        }
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(cp)) {
            consumer.assign(tps);
            consumer.seekToBeginning(tps);

            Map<TopicPartition, Long> begin = consumer.beginningOffsets(tps, Duration.ofSeconds(30));
            Map<TopicPartition, Long> end = consumer.endOffsets(tps, Duration.ofSeconds(30));
            for (TopicPartition tp : tps) {
                long want = byPartition.get(tp.partition()).size();
                if (begin.get(tp) != 0L) {
                    problems.add(tp + ": log start offset " + begin.get(tp) + ", want 0");
                }
                if (end.get(tp) != want) {
                    problems.add(tp + ": end offset " + end.get(tp) + ", want " + want);
                }
            }

            Map<Integer, Integer> next = new HashMap<>();
            for (int p = 0; p < PARTITIONS; p++) {
                next.put(p, 0);
            }
            int received = 0;
            long deadline = System.currentTimeMillis() + CONSUME_TIMEOUT_MS;
            while (received < records) {
                if (System.currentTimeMillis() > deadline) {
                    problems.add("timed out after " + CONSUME_TIMEOUT_MS + " ms: received " + received + " of " + records
                            + " records (per-partition progress " + next + ")");
                    break;
                }
                ConsumerRecords<byte[], byte[]> batch = consumer.poll(Duration.ofMillis(500));
                for (ConsumerRecord<byte[], byte[]> r : batch) {
                    int p = r.partition();
                    List<Sent> list = byPartition.get(p);
                    int j = next.get(p);
                    if (j >= list.size()) {
                        problems.add("partition " + p + ": unexpected extra record at offset " + r.offset());
                        continue;
                    }
                    Sent s = list.get(j);
                    next.put(p, j + 1);
                    received++;
                    String where = "partition " + p + " offset " + r.offset() + " (record " + s.index + ")";
                    if (r.offset() != s.offset) {
                        problems.add(where + ": got offset " + r.offset() + ", want " + s.offset);
                    }
                    if (!Arrays.equals(r.key(), s.key)) {
                        problems.add(where + ": key " + describe(r.key()) + ", want " + describe(s.key));
                    }
                    if (!Arrays.equals(r.value(), s.value)) {
                        problems.add(where + ": value " + describe(r.value()) + ", want " + describe(s.value));
                    }
                    Header[] got = r.headers().toArray();
                    if (!sameHeaders(s.headers, got)) {
                        problems.add(where + ": headers " + describe(Arrays.asList(got)) + ", want " + describe(s.headers));
                    }
                    if (r.timestamp() != s.timestamp || r.timestampType() != TimestampType.CREATE_TIME) {
                        problems.add(where + ": timestamp " + r.timestamp() + " " + r.timestampType()
                                + ", want " + s.timestamp + " CreateTime");
                    }
                }
            }
            // Nothing more may follow the last record.
            ConsumerRecords<byte[], byte[]> extra = consumer.poll(Duration.ofMillis(200));
            for (ConsumerRecord<byte[], byte[]> r : extra) {
                problems.add("partition " + r.partition() + ": unexpected extra record at offset " + r.offset());
            }
            for (TopicPartition tp : tps) {
                long pos = consumer.position(tp, Duration.ofSeconds(30));
                long want = byPartition.get(tp.partition()).size();
                if (pos != want) {
                    problems.add(tp + ": final position " + pos + ", want " + want);
                }
            }
        }
        return problems;
    }

    private CompatCheck() {}
}
