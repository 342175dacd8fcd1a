package dev.skein.compat;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Exactly-once consume-transform-produce check with the official Java
 * client.
 *
 * <p>A plain producer writes the input records to a topic with three
 * partitions. A consumer in a group (enable.auto.commit=false,
 * isolation.level=read_committed) and a transactional producer then run
 * the loop: for each polled batch, begin a transaction, produce one
 * transformed record per input record to the output topic (the value upper
 * cased, the input topic/partition/offset and the transaction's tag in
 * headers), sendOffsetsToTransaction with consumer.groupMetadata(), and
 * commit; every tenth transaction is flushed and aborted instead, after
 * which the consumer seeks back to the group's committed offsets and
 * processes those records again. After every transaction the group's
 * committed offsets must equal those of the last committed transaction.
 *
 * <p>Verification: a read_committed reader of the output sees exactly one
 * record per input record and none written by an aborted transaction; a
 * read_uncommitted reader sees the aborted copies too (so the aborts did
 * reach the log); the group's committed offsets equal the input's end
 * offsets.
 *
 * <p>Usage: TxnCheck &lt;bootstrap&gt; &lt;topic-prefix&gt; (further
 * arguments are ignored). Environment: COMPAT_TXN_RECORDS (default 3000).
 */
public final class TxnCheck {
    static final int PARTITIONS = 3;
    static final int ABORT_EVERY = 10;
    static final Duration DEADLINE = Duration.ofSeconds(180);
    static final Duration POLL = Duration.ofMillis(200);

    final String bootstrap;
    final String in;
    final String out;
    final String group;
    final String txnId;
    final int records;
    final long deadline = System.nanoTime() + DEADLINE.toNanos();
    /** Tags of the aborted transactions. */
    final Set<String> aborted = new HashSet<>();

    TxnCheck(String bootstrap, String prefix, int records) {
        this.bootstrap = bootstrap;
        this.in = prefix + "-java-txn-in";
        this.out = prefix + "-java-txn-out";
        this.group = prefix + "-java-txn-group";
        this.txnId = prefix + "-java-txn";
        this.records = records;
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: TxnCheck <bootstrap> <topic-prefix>");
            System.exit(2);
        }
        int n = Integer.parseInt(System.getenv().getOrDefault("COMPAT_TXN_RECORDS", "3000"));
        long start = System.nanoTime();
        try {
            new TxnCheck(args[0], args[1], n).run();
        } catch (Throwable e) {
            System.out.println("FAIL: " + e);
            e.printStackTrace(System.out);
            System.exit(1);
        }
        System.out.printf("PASS: java transactional consume-transform-produce in %d ms%n", (System.nanoTime() - start) / 1_000_000);
    }

    void check(boolean ok, String format, Object... args) {
        if (!ok) {
            throw new AssertionError(String.format(format, args));
        }
    }

    void checkDeadline(String what) {
        check(System.nanoTime() < deadline, "deadline of %s passed while %s", DEADLINE, what);
    }

    Properties common() {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        return p;
    }

    void run() throws Exception {
        try (Admin admin = Admin.create(common())) {
            admin.createTopics(List.of(new NewTopic(in, PARTITIONS, (short) 1), new NewTopic(out, PARTITIONS, (short) 1))).all().get();
            Map<TopicPartition, Long> ends = produceInput();
            Map<TopicPartition, Long> committed = transform(ends);
            check(committed.equals(ends), "committed offsets %s, input end offsets %s", committed, ends);
            Map<TopicPartition, OffsetAndMetadata> groupOffsets = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
            for (Map.Entry<TopicPartition, Long> e : ends.entrySet()) {
                OffsetAndMetadata om = groupOffsets.get(e.getKey());
                check(om != null && om.offset() == e.getValue(), "%s: group offset %s, end offset %d", e.getKey(), om, e.getValue());
            }
        }
        writeEnds();
        verify(true);
        verify(false);
    }

    /** Writes the input records; returns the input's end offsets. */
    Map<TopicPartition, Long> produceInput() throws Exception {
        Properties p = common();
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "false");
        p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        Map<TopicPartition, Long> ends = new TreeMap<>(TxnCheck::compareTp);
        try (KafkaProducer<String, String> prod = new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
            for (int i = 0; i < records; i++) {
                prod.send(new ProducerRecord<>(in, i % PARTITIONS, "k" + i, "value-" + i));
            }
            prod.flush();
        }
        for (int part = 0; part < PARTITIONS; part++) {
            ends.put(new TopicPartition(in, part), (long) ((records + PARTITIONS - 1 - part) / PARTITIONS));
        }
        System.out.printf("produced %d input records to %s%n", records, in);
        return ends;
    }

    static int compareTp(TopicPartition a, TopicPartition b) {
        int c = a.topic().compareTo(b.topic());
        return c != 0 ? c : Integer.compare(a.partition(), b.partition());
    }

    /** Runs the consume-transform-produce loop; returns the offsets it committed. */
    Map<TopicPartition, Long> transform(Map<TopicPartition, Long> ends) throws Exception {
        Properties cp = common();
        cp.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        cp.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        cp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        cp.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "100");
        Properties pp = common();
        pp.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, txnId);
        pp.put(ProducerConfig.ACKS_CONFIG, "all");
        pp.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        Map<TopicPartition, Long> committed = new TreeMap<>(TxnCheck::compareTp);
        int txns = 0, aborts = 0;
        try (KafkaConsumer<String, String> cons = new KafkaConsumer<>(cp, new StringDeserializer(), new StringDeserializer());
             KafkaProducer<String, String> prod = new KafkaProducer<>(pp, new StringSerializer(), new StringSerializer())) {
            prod.initTransactions();
            cons.subscribe(List.of(in));
            while (!committed.equals(ends)) {
                checkDeadline("transforming; committed " + committed);
                ConsumerRecords<String, String> batch = cons.poll(POLL);
                if (batch.isEmpty()) {
                    continue;
                }
                txns++;
                String tag = "txn-" + txns;
                boolean abort = txns % ABORT_EVERY == 0;
                prod.beginTransaction();
                Map<TopicPartition, OffsetAndMetadata> next = new HashMap<>();
                for (ConsumerRecord<String, String> r : batch) {
                    List<Header> headers = List.of(
                        new RecordHeader("src", (r.topic() + "/" + r.partition() + "/" + r.offset()).getBytes(StandardCharsets.UTF_8)),
                        new RecordHeader("txn", tag.getBytes(StandardCharsets.UTF_8)));
                    prod.send(new ProducerRecord<>(out, r.partition(), null, r.key(), r.value().toUpperCase(), headers));
                    next.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
                }
                prod.sendOffsetsToTransaction(next, cons.groupMetadata());
                if (abort) {
                    // The records reach the log before the abort, so that
                    // read_committed readers have aborted data to skip.
                    prod.flush();
                    prod.abortTransaction();
                    aborts++;
                    aborted.add(tag);
                    // As an application does: go back to the last
                    // committed offsets and process those records again.
                    Map<TopicPartition, OffsetAndMetadata> last = cons.committed(cons.assignment());
                    for (TopicPartition tp : cons.assignment()) {
                        OffsetAndMetadata om = last.get(tp);
                        if (om == null) {
                            cons.seekToBeginning(List.of(tp));
                        } else {
                            cons.seek(tp, om);
                        }
                    }
                } else {
                    prod.commitTransaction();
                    next.forEach((tp, om) -> committed.put(tp, om.offset()));
                }
                // The group's offsets move only with a committed transaction.
                Map<TopicPartition, OffsetAndMetadata> now = cons.committed(new HashSet<>(ends.keySet()));
                for (TopicPartition tp : ends.keySet()) {
                    OffsetAndMetadata om = now.get(tp);
                    Long want = committed.get(tp);
                    check(want == null ? om == null : om != null && om.offset() == want,
                        "after %s (%s): %s committed at %s, want %s", tag, abort ? "aborted" : "committed", tp, om, want);
                }
            }
        }
        System.out.printf("%d transactions, %d aborted; committed offsets %s%n", txns, aborts, committed);
        check(aborts > 0, "no transaction was aborted");
        return committed;
    }

    /** Appends a plain "end" record to each output partition. */
    void writeEnds() throws Exception {
        Properties p = common();
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        try (KafkaProducer<String, String> prod = new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
            for (int part = 0; part < PARTITIONS; part++) {
                prod.send(new ProducerRecord<>(out, part, null, "end")).get();
            }
        }
    }

    /**
     * Reads the output from the start up to the "end" record of every
     * partition. read_committed: exactly one copy of each input record,
     * none from an aborted transaction. read_uncommitted: every input
     * record, and some aborted copies.
     */
    void verify(boolean committedOnly) {
        Properties cp = common();
        cp.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, committedOnly ? "read_committed" : "read_uncommitted");
        cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        Map<String, List<String>> seen = new HashMap<>();
        Set<Integer> ended = new HashSet<>();
        try (KafkaConsumer<String, String> cons = new KafkaConsumer<>(cp, new StringDeserializer(), new StringDeserializer())) {
            List<TopicPartition> tps = new ArrayList<>();
            for (int part = 0; part < PARTITIONS; part++) {
                tps.add(new TopicPartition(out, part));
            }
            cons.assign(tps);
            cons.seekToBeginning(tps);
            while (ended.size() < PARTITIONS) {
                checkDeadline("reading " + out + (committedOnly ? " read_committed" : " read_uncommitted"));
                for (ConsumerRecord<String, String> r : cons.poll(POLL)) {
                    if ("end".equals(r.value()) && r.headers().lastHeader("src") == null) {
                        ended.add(r.partition());
                        continue;
                    }
                    String src = new String(r.headers().lastHeader("src").value(), StandardCharsets.UTF_8);
                    String tag = new String(r.headers().lastHeader("txn").value(), StandardCharsets.UTF_8);
                    String[] parts = src.split("/");
                    int i = Integer.parseInt(parts[2]) * PARTITIONS + Integer.parseInt(parts[1]);
                    check(r.value().equals(("value-" + i).toUpperCase()), "%s: value %s", src, r.value());
                    check(r.partition() == Integer.parseInt(parts[1]), "%s landed in partition %d", src, r.partition());
                    seen.computeIfAbsent(src, k -> new ArrayList<>()).add(tag);
                }
            }
        }
        int copies = 0;
        for (int i = 0; i < records; i++) {
            String src = in + "/" + (i % PARTITIONS) + "/" + (i / PARTITIONS);
            List<String> tags = seen.get(src);
            check(tags != null, "%s: no output record", src);
            copies += tags.size();
            if (committedOnly) {
                check(tags.size() == 1, "%s: %d copies read_committed (transactions %s)", src, tags.size(), tags);
                check(!aborted.contains(tags.get(0)), "%s: read_committed copy from aborted %s", src, tags.get(0));
            }
        }
        check(seen.size() == records, "%d distinct input records in the output, want %d", seen.size(), records);
        if (committedOnly) {
            System.out.printf("read_committed: exactly one copy of each of %d input records%n", records);
        } else {
            check(copies > records, "read_uncommitted saw no aborted copies");
            System.out.printf("read_uncommitted: %d records, %d of them from aborted transactions%n", copies, copies - records);
        }
    }
}
