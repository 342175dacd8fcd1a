package dev.skein.compat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Consumer group check with the official Java client, with either group
 * protocol (group.protocol=classic or consumer, KIP-848).
 *
 * <p>Two consumers join one group on a topic with four partitions. Once
 * both own partitions, the records are produced; each consumer processes a
 * fixed number of records of each of its partitions (3/5 or 2/5 of it, half
 * of all records per consumer), commits the offsets after them with
 * commitSync, and waits for the other; both close. A third consumer then
 * joins the same group and must start exactly at the committed offset of
 * every partition and read to the end: the committed prefix from phase one
 * and the records of phase two cover every record exactly once.
 *
 * <p>Usage: GroupCheck classic|consumer &lt;bootstrap&gt; &lt;topic-prefix&gt;
 * (further arguments are ignored). Environment: COMPAT_GROUP_RECORDS
 * (default 2000); COMPAT_JAVA_DEBUG=1 logs org.apache.kafka.clients.consumer
 * at DEBUG; COMPAT_JAVA_CONSUMER_PROPS="key=value;key=value" adds consumer
 * properties (for example another partition.assignment.strategy).
 */
public final class GroupCheck {
    static final int PARTITIONS = 4;
    static final Duration DEADLINE = Duration.ofSeconds(90);
    static final Duration POLL = Duration.ofMillis(100);

    final String protocol;
    final String bootstrap;
    final String topic;
    final String group;
    final int records;
    final List<String> problems = new ArrayList<>();
    /** The value written at each partition and offset. */
    final Map<Integer, TreeMap<Long, String>> sent = new TreeMap<>();
    /** Set once the records are produced: the consumers start processing. */
    final AtomicBoolean go = new AtomicBoolean();

    /**
     * How many records of partition p phase one processes: 3/5 of
     * partitions 0 and 3 and 2/5 of partitions 1 and 2. Whether the
     * assignor gives a member partitions {0, 1} or {0, 2}, each member of
     * the group of two processes half of all records.
     */
    int cap(int p) {
        return records / PARTITIONS * (p == 0 || p == 3 ? 3 : 2) / 5;
    }

    GroupCheck(String protocol, String bootstrap, String prefix, int records) {
        this.protocol = protocol;
        this.bootstrap = bootstrap;
        this.topic = prefix + "-java-group-" + protocol;
        this.group = topic + "-group";
        this.records = records;
    }

    public static void main(String[] args) throws Exception {
        if (System.getProperty("org.slf4j.simpleLogger.defaultLogLevel") == null) {
            System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        }
        if (System.getenv("COMPAT_JAVA_DEBUG") != null) {
            System.setProperty("org.slf4j.simpleLogger.log.org.apache.kafka.clients.consumer", "debug");
        }
        System.setProperty("org.slf4j.simpleLogger.showDateTime", "true");
        System.setProperty("org.slf4j.simpleLogger.dateTimeFormat", "HH:mm:ss.SSS");
        if (args.length < 3 || !(args[0].equals("classic") || args[0].equals("consumer"))) {
            System.err.println("usage: GroupCheck classic|consumer <bootstrap> <topic-prefix>");
            System.exit(2);
        }
        int records = Integer.parseInt(System.getenv().getOrDefault("COMPAT_GROUP_RECORDS", "2000"));
        GroupCheck c = new GroupCheck(args[0], args[1], args[2], records);
        long start = System.nanoTime();
        String name = "java group.protocol=" + c.protocol;
        try {
            c.run();
        } catch (Exception e) {
            c.problems.add("exception: " + e);
            e.printStackTrace(System.out);
        }
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        if (c.problems.isEmpty()) {
            System.out.printf("PASS %s topic=%s records=%d (%d ms)%n", name, c.topic, records, ms);
        } else {
            System.out.printf("FAIL %s topic=%s: %d problem(s) (%d ms)%n", name, c.topic, c.problems.size(), ms);
            int shown = 0;
            for (String p : c.problems) {
                System.out.println("  " + p);
                if (++shown == 30) {
                    System.out.println("  ... " + (c.problems.size() - shown) + " more");
                    break;
                }
            }
        }
        System.out.flush();
        System.exit(c.problems.isEmpty() ? 0 : 1);
    }

    static void log(String format, Object... args) {
        System.out.printf("%tT.%<tL java: %s%n", System.currentTimeMillis(), String.format(format, args));
        System.out.flush();
    }

    Properties consumerProps(String clientId) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, clientId);
        p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        p.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, protocol);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        // Small fetches: many fetch and poll rounds.
        p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "37");
        p.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, "2048");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        String extra = System.getenv("COMPAT_JAVA_CONSUMER_PROPS");
        if (extra != null) {
            for (String kv : extra.split(";")) {
                int eq = kv.indexOf('=');
                if (eq > 0) {
                    p.put(kv.substring(0, eq).trim(), kv.substring(eq + 1).trim());
                }
            }
        }
        return p;
    }

    void run() throws Exception {
        Properties ap = new Properties();
        ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        ap.put(AdminClientConfig.CLIENT_ID_CONFIG, "compat-java-group-admin");
        try (Admin admin = Admin.create(ap)) {
            admin.createTopics(List.of(new NewTopic(topic, PARTITIONS, (short) 1))).all().get(60, TimeUnit.SECONDS);

            Map<Integer, Long> committed = phaseOne();
            if (!problems.isEmpty()) {
                return;
            }
            // What the broker stored must be what the commits acknowledged.
            Map<TopicPartition, OffsetAndMetadata> stored = admin.listConsumerGroupOffsets(group)
                    .partitionsToOffsetAndMetadata().get(60, TimeUnit.SECONDS);
            Map<Integer, Long> storedByPartition = new TreeMap<>();
            stored.forEach((tp, om) -> {
                if (om != null) {
                    storedByPartition.put(tp.partition(), om.offset());
                }
            });
            if (!storedByPartition.equals(committed)) {
                problems.add("committed offsets listed by the admin client " + storedByPartition
                        + " differ from the acknowledged commits " + committed);
                return;
            }
            phaseTwo(committed);
        }
    }

    /** One consumer of phase one, polling on its own thread. */
    final class Member implements Runnable {
        final String name;
        final AtomicReference<Set<Integer>> assignment = new AtomicReference<>(Set.of());
        /** The assignment when processing started. */
        volatile Set<Integer> assignmentAtGo;
        /** Processed offsets by partition, in processing order. */
        final Map<Integer, List<Long>> processed = new TreeMap<>();
        /** The value of each processed record by "partition@offset". */
        final Map<String, String> values = new HashMap<>();
        final Map<Integer, Long> committed = new TreeMap<>();
        final CountDownLatch done;
        /** Records processed. */
        final CountDownLatch allDone;
        volatile String error;
        volatile int rebalancesWhileProcessing;
        volatile boolean finished;
        int count;

        /** Whether every partition owned at the start has its cap of records processed. */
        boolean reachedCaps() {
            for (int p : assignmentAtGo) {
                if (processed.getOrDefault(p, List.of()).size() < cap(p)) {
                    return false;
                }
            }
            return true;
        }

        Member(String name, CountDownLatch done, CountDownLatch allDone) {
            this.name = name;
            this.done = done;
            this.allDone = allDone;
        }

        @Override
        public void run() {
            try (KafkaConsumer<String, String> c = new KafkaConsumer<>(consumerProps("compat-java-" + name))) {
                c.subscribe(List.of(topic), new ConsumerRebalanceListener() {
                    @Override
                    public void onPartitionsRevoked(Collection<TopicPartition> parts) {
                        note("revoked", parts);
                    }

                    @Override
                    public void onPartitionsAssigned(Collection<TopicPartition> parts) {
                        note("assigned", parts);
                    }

                    @Override
                    public void onPartitionsLost(Collection<TopicPartition> parts) {
                        note("lost", parts);
                    }

                    void note(String what, Collection<TopicPartition> parts) {
                        log("%s: %s %s", name, what, parts);
                        if (go.get() && !finished && !parts.isEmpty()) {
                            rebalancesWhileProcessing++;
                        }
                    }
                });
                long deadline = System.nanoTime() + DEADLINE.toNanos();
                while (allDone.getCount() > 0) {
                    if (System.nanoTime() > deadline) {
                        error = "timed out after " + count + " records";
                        return;
                    }
                    ConsumerRecords<String, String> recs = c.poll(POLL);
                    Set<Integer> owned = new TreeSet<>();
                    for (TopicPartition tp : c.assignment()) {
                        owned.add(tp.partition());
                    }
                    assignment.set(owned);
                    if (!go.get()) {
                        if (!recs.isEmpty()) {
                            error = "got " + recs.count() + " records before any were produced";
                            return;
                        }
                        continue;
                    }
                    if (assignmentAtGo == null) {
                        assignmentAtGo = owned;
                    }
                    if (finished) {
                        continue; // waiting for the other member; records past the caps are ignored
                    }
                    for (ConsumerRecord<String, String> r : recs) {
                        List<Long> offs = processed.computeIfAbsent(r.partition(), k -> new ArrayList<>());
                        if (offs.size() < cap(r.partition())) {
                            offs.add(r.offset());
                            values.put(r.partition() + "@" + r.offset(), r.value());
                            count++;
                        }
                    }
                    if (reachedCaps()) {
                        Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
                        processed.forEach((p, offs) -> offsets.put(new TopicPartition(topic, p),
                                new OffsetAndMetadata(offs.get(offs.size() - 1) + 1)));
                        c.commitSync(offsets, Duration.ofSeconds(30));
                        offsets.forEach((tp, om) -> committed.put(tp.partition(), om.offset()));
                        log("%s: processed %d records, committed %s", name, count, committed);
                        finished = true;
                        done.countDown();
                        allDone.countDown();
                    }
                }
            } catch (Exception e) {
                error = e.toString();
                e.printStackTrace(System.out);
            } finally {
                if (!finished) {
                    done.countDown();
                    allDone.countDown();
                }
            }
        }
    }

    Map<Integer, Long> phaseOne() throws Exception {
        long start = System.nanoTime();
        CountDownLatch allDone = new CountDownLatch(2);
        Member a = new Member("a", new CountDownLatch(1), allDone);
        Member b = new Member("b", new CountDownLatch(1), allDone);
        Thread ta = new Thread(a, "member-a");
        Thread tb = new Thread(b, "member-b");
        ta.start();
        tb.start();
        try {
            // Both members must own partitions, together all of them,
            // before there is anything to consume.
            long deadline = System.nanoTime() + DEADLINE.toNanos();
            while (true) {
                Set<Integer> sa = a.assignment.get(), sb = b.assignment.get();
                Set<Integer> union = new TreeSet<>(sa);
                union.addAll(sb);
                if (!sa.isEmpty() && !sb.isEmpty() && union.size() == PARTITIONS && sa.size() + sb.size() == PARTITIONS) {
                    log("group of two formed after %d ms: a owns %s, b owns %s", ms(start), sa, sb);
                    break;
                }
                if (a.error != null || b.error != null || System.nanoTime() > deadline) {
                    problems.add("the two members did not share the partitions: a owns " + sa + " (" + a.error
                            + "), b owns " + sb + " (" + b.error + ")");
                    return Map.of();
                }
                Thread.sleep(20); // poll interval
            }
            // The topic is empty until now: whatever the members read from
            // here on is processed.
            go.set(true);
            produce();
        } finally {
            if (!go.get()) {
                allDone.countDown();
                allDone.countDown();
            }
            ta.join(DEADLINE.toMillis() + 30_000);
            tb.join(DEADLINE.toMillis() + 30_000);
        }
        if (ta.isAlive() || tb.isAlive()) {
            problems.add("phase one consumers did not stop");
            return Map.of();
        }
        Map<Integer, Long> committed = new TreeMap<>();
        for (Member m : List.of(a, b)) {
            if (m.error != null) {
                problems.add("member " + m.name + ": " + m.error);
                continue;
            }
            if (m.assignmentAtGo == null || m.assignmentAtGo.isEmpty()) {
                problems.add("member " + m.name + " owned no partitions while consuming");
            }
            if (m.rebalancesWhileProcessing > 0) {
                problems.add("member " + m.name + " saw " + m.rebalancesWhileProcessing + " rebalance(s) while consuming");
            }
            m.values.forEach((at, value) -> {
                String[] pa = at.split("@");
                String want = sent.get(Integer.parseInt(pa[0])).get(Long.parseLong(pa[1]));
                if (!value.equals(want)) {
                    problems.add("member " + m.name + " partition " + pa[0] + " offset " + pa[1] + ": value " + value + ", want " + want);
                }
            });
            m.processed.forEach((p, offs) -> {
                // Nothing was committed before: each partition is read from 0.
                for (int i = 0; i < offs.size(); i++) {
                    if (offs.get(i) != i) {
                        problems.add("member " + m.name + " partition " + p + ": processed offset " + offs.get(i) + " at position " + i);
                        return;
                    }
                }
                if (m.assignmentAtGo != null && !m.assignmentAtGo.contains(p)) {
                    problems.add("member " + m.name + " processed partition " + p + " it did not own");
                }
            });
            for (Map.Entry<Integer, Long> e : m.committed.entrySet()) {
                if (committed.put(e.getKey(), e.getValue()) != null) {
                    problems.add("partition " + e.getKey() + " committed by both members");
                }
            }
            log("member %s owned %s, processed %s records of partitions %s, committed %s",
                    m.name, m.assignmentAtGo, m.count, m.processed.keySet(), m.committed);
        }
        for (int p = 0; p < PARTITIONS; p++) {
            if (committed.getOrDefault(p, -1L) != cap(p)) {
                problems.add("partition " + p + ": committed " + committed.get(p) + " in phase one, want " + cap(p));
            }
        }
        log("phase one done in %d ms: committed %s", ms(start), committed);
        return committed;
    }

    void produce() throws Exception {
        Properties pp = new Properties();
        pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        pp.put(ProducerConfig.CLIENT_ID_CONFIG, "compat-java-group-producer");
        pp.put(ProducerConfig.ACKS_CONFIG, "all");
        pp.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        Map<Integer, TreeMap<Long, String>> got = new ConcurrentHashMap<>();
        AtomicReference<Exception> sendError = new AtomicReference<>();
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(pp)) {
            for (int i = 0; i < records; i++) {
                String value = "value-" + i;
                producer.send(new ProducerRecord<>(topic, i % PARTITIONS, "key-" + i, value), (RecordMetadata md, Exception e) -> {
                    if (e != null) {
                        sendError.compareAndSet(null, e);
                        return;
                    }
                    synchronized (got) {
                        got.computeIfAbsent(md.partition(), k -> new TreeMap<>()).put(md.offset(), value);
                    }
                });
            }
            producer.flush();
        }
        if (sendError.get() != null) {
            throw sendError.get();
        }
        sent.putAll(got);
        for (int p = 0; p < PARTITIONS; p++) {
            TreeMap<Long, String> offs = sent.get(p);
            if (offs == null || offs.size() != records / PARTITIONS || offs.firstKey() != 0 || offs.lastKey() != offs.size() - 1) {
                throw new IllegalStateException("partition " + p + ": produced offsets are not 0.." + (records / PARTITIONS - 1));
            }
        }
        log("produced %d records", records);
    }

    void phaseTwo(Map<Integer, Long> committed) {
        long start = System.nanoTime();
        Map<Integer, List<ConsumerRecord<String, String>>> read = new TreeMap<>();
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(consumerProps("compat-java-resume"))) {
            c.subscribe(List.of(topic));
            long deadline = System.nanoTime() + DEADLINE.toNanos();
            while (!reachedEnd(read, committed)) {
                if (System.nanoTime() > deadline) {
                    problems.add("phase two did not reach the end of every partition: read " + summary(read));
                    return;
                }
                for (ConsumerRecord<String, String> r : c.poll(POLL)) {
                    read.computeIfAbsent(r.partition(), k -> new ArrayList<>()).add(r);
                }
            }
        }
        for (int p = 0; p < PARTITIONS; p++) {
            long from = committed.getOrDefault(p, 0L);
            long end = sent.get(p).size();
            List<ConsumerRecord<String, String>> rs = read.getOrDefault(p, List.of());
            if (!rs.isEmpty() && rs.get(0).offset() != from) {
                problems.add("partition " + p + ": the resumed consumer started at offset " + rs.get(0).offset() + ", committed " + from);
                continue;
            }
            if (rs.size() != end - from) {
                problems.add("partition " + p + ": the resumed consumer read " + rs.size() + " records, want " + (end - from)
                        + " (offsets " + from + ".." + (end - 1) + ")");
            }
            for (int i = 0; i < rs.size(); i++) {
                ConsumerRecord<String, String> r = rs.get(i);
                if (r.offset() != from + i) {
                    problems.add("partition " + p + ": record " + i + " of phase two has offset " + r.offset() + ", want " + (from + i));
                    break;
                }
                if (!r.value().equals(sent.get(p).get(r.offset()))) {
                    problems.add("partition " + p + " offset " + r.offset() + ": value " + r.value());
                    break;
                }
            }
        }
        log("phase two done in %d ms: read %s", ms(start), summary(read));
    }

    boolean reachedEnd(Map<Integer, List<ConsumerRecord<String, String>>> read, Map<Integer, Long> committed) {
        for (int p = 0; p < PARTITIONS; p++) {
            long end = sent.get(p).size();
            if (committed.getOrDefault(p, 0L) == end) {
                continue;
            }
            List<ConsumerRecord<String, String>> rs = read.get(p);
            if (rs == null || rs.get(rs.size() - 1).offset() < end - 1) {
                return false;
            }
        }
        return true;
    }

    static String summary(Map<Integer, List<ConsumerRecord<String, String>>> read) {
        StringBuilder sb = new StringBuilder("{");
        read.forEach((p, rs) -> sb.append(sb.length() > 1 ? ", " : "").append(p).append(": ")
                .append(rs.size()).append(" records from ").append(rs.get(0).offset()));
        return sb.append("}").toString();
    }

    static long ms(long startNanos) {
        return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNanos);
    }
}
