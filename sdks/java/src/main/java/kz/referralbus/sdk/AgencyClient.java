package kz.referralbus.sdk;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.PrivateKey;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Predicate;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * An agency's connection to the bus on the Apache Kafka Java client: publish a signed event on
 * {@code rb.ingress.<agency>} keyed by case id (the client's default partitioner is the murmur2 the
 * bus requires), wait for its receipt on {@code rb.receipts.<agency>} (keyed
 * {@code <topic>:<partition>:<offset>}), and read {@code rb.inbox.<agency>}, dropping repeats by
 * the {@code rb-delivery-id} header.
 */
public final class AgencyClient implements AutoCloseable {
    /** Connection, identity and signing key; {@link #fromEnv} reads the Python SDK's environment variables. */
    public record Options(String agencyId, String actorId, String bootstrapServers, String securityMode, String username,
                          String password, Path caFile, Path schemasDir, String topicPrefix, String keyId,
                          PrivateKey signingKey) {
        public static Options fromEnv(String agencyId, String actorId, Path schemasDir) throws IOException,
                GeneralSecurityException {
            Map<String, String> env = System.getenv();
            String password = env.get("REFERRAL_BUS_KAFKA_PASSWORD");
            if (env.containsKey("REFERRAL_BUS_KAFKA_PASSWORD_FILE")) {
                password = Files.readString(Path.of(env.get("REFERRAL_BUS_KAFKA_PASSWORD_FILE"))).trim();
            }
            String keyId = null;
            PrivateKey key = null;
            if (env.containsKey("REFERRAL_BUS_SIGNING_KEY_DIR")) {
                Path dir = Path.of(env.get("REFERRAL_BUS_SIGNING_KEY_DIR"), agencyId);
                keyId = Files.readString(dir.resolve("current")).trim();
                key = Contract.privateKeyFromPem(Files.readString(dir.resolve(keyId.split(":", 2)[1] + ".pem")));
            }
            String ca = env.get("REFERRAL_BUS_KAFKA_CA_FILE");
            return new Options(agencyId, actorId, env.getOrDefault("KAFKA_BOOTSTRAP_SERVERS", "localhost:9092"),
                    env.getOrDefault("REFERRAL_BUS_KAFKA_SECURITY", "plaintext"), env.get("REFERRAL_BUS_KAFKA_USERNAME"),
                    password, ca == null ? null : Path.of(ca), schemasDir, env.getOrDefault("REFERRAL_BUS_TOPIC_PREFIX", ""),
                    keyId, key);
        }
    }

    /** A delivery from the inbox. */
    public record Delivery(String record, ObjectNode value, String deliveryId, String paragraph, String purpose,
                           boolean redacted, int partition, long offset) {
    }

    /** Refused before it left, or not answered in time. */
    public static final class PublishException extends Exception {
        public PublishException(String message) {
            super(message);
        }
    }

    private final Options options;
    private final Contract.Schemas schemas;
    private KafkaProducer<String, byte[]> producer;
    private final LinkedHashSet<String> seen = new LinkedHashSet<>();
    private final java.util.ArrayDeque<String> unreadable = new java.util.ArrayDeque<>();

    public AgencyClient(Options options) throws IOException {
        this.options = options;
        this.schemas = new Contract.Schemas(options.schemasDir());
    }

    public Contract.Schemas schemas() {
        return schemas;
    }

    public String topic(String kind) {
        return options.topicPrefix() + "rb." + kind + "." + options.agencyId();
    }

    private Properties connection() {
        Properties props = new Properties();
        props.put("bootstrap.servers", options.bootstrapServers());
        props.put("client.id", "sdk-java-" + options.agencyId());
        if ("sasl_ssl".equals(options.securityMode())) {
            if (options.username() == null || options.password() == null || options.caFile() == null) {
                throw new IllegalArgumentException("sasl_ssl needs a username, a password and a CA file");
            }
            props.put("security.protocol", "SASL_SSL");
            props.put("sasl.mechanism", "SCRAM-SHA-512");
            props.put("sasl.jaas.config", "org.apache.kafka.common.security.scram.ScramLoginModule required username=\""
                    + options.username().replace("\"", "\\\"") + "\" password=\"" + options.password().replace("\"", "\\\"") + "\";");
            props.put("ssl.truststore.type", "PEM");
            props.put("ssl.truststore.location", options.caFile().toString());
        }
        return props;
    }

    /** A new event of {@code record} with a complete envelope (router fields empty), then {@code fields}. */
    public ObjectNode event(String record, String caseId, Map<String, ?> fields) {
        ObjectNode event = Contract.json().createObjectNode();
        ObjectNode envelope = event.putObject("envelope");
        envelope.put("event_id", UUID.randomUUID().toString());
        envelope.put("event_type", record);
        envelope.put("schema_version", schemas.version(record));
        envelope.put("case_id", caseId);
        envelope.put("occurred_at", Instant.now().truncatedTo(ChronoUnit.MICROS).toString());
        ObjectNode producer = envelope.putObject("producer");
        producer.put("agency_id", options.agencyId());
        producer.put("actor_id", options.actorId());
        fields.forEach((name, value) -> event.set(name, Contract.json().valueToTree(value)));
        return event;
    }

    /** Normalise, sign and frame {@code event}: the bytes to send. */
    public byte[] prepare(JsonNode event) throws PublishException {
        String record = event.path("envelope").path("event_type").asText();
        if (options.signingKey() == null) {
            throw new PublishException("no signing key (REFERRAL_BUS_SIGNING_KEY_DIR)");
        }
        if (!options.agencyId().equals(event.path("envelope").path("producer").path("agency_id").asText())) {
            throw new PublishException("envelope.producer.agency_id must be " + options.agencyId());
        }
        try {
            ObjectNode signed = Contract.sign(schemas.normalise(record, event), options.keyId(), options.signingKey());
            return schemas.encode(record, signed);
        } catch (Contract.ContractException e) {
            throw new PublishException(record + ": " + e.getMessage());
        } catch (GeneralSecurityException e) {
            throw new PublishException("signing failed: " + e.getMessage());
        }
    }

    private KafkaProducer<String, byte[]> producer() {
        if (producer == null) {
            Properties props = connection();
            props.put(ProducerConfig.ACKS_CONFIG, "all");
            props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
            producer = new KafkaProducer<>(props, new StringSerializer(), new ByteArraySerializer());
        }
        return producer;
    }

    /** Publish {@code event} and return its receipt (status ACCEPTED, DUPLICATE or REJECTED with reason_code). */
    public ObjectNode publish(JsonNode event, Duration timeout) throws PublishException, InterruptedException {
        byte[] value = prepare(event);
        String ingress = topic("ingress");
        String caseId = event.path("envelope").path("case_id").asText();
        Properties props = connection();
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        try (KafkaConsumer<String, byte[]> receipts = new KafkaConsumer<>(props, new StringDeserializer(),
                new ByteArrayDeserializer())) {
            List<TopicPartition> partitions = new ArrayList<>();
            for (PartitionInfo info : receipts.partitionsFor(topic("receipts"), timeout)) {
                partitions.add(new TopicPartition(info.topic(), info.partition()));
            }
            receipts.assign(partitions); // no consumer group: read from the end as it is before the send
            receipts.seekToEnd(partitions);
            partitions.forEach(receipts::position);
            RecordMetadata ack;
            try {
                ack = producer().send(new ProducerRecord<>(ingress, caseId, value)).get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            } catch (ExecutionException | TimeoutException e) {
                throw new PublishException("the broker did not acknowledge the event: " + e.getMessage());
            }
            String submission = ingress + ":" + ack.partition() + ":" + ack.offset();
            long deadline = System.nanoTime() + timeout.toNanos();
            while (System.nanoTime() < deadline) {
                for (ConsumerRecord<String, byte[]> record : receipts.poll(Duration.ofMillis(200))) {
                    if (submission.equals(record.key()) && record.value() != null) {
                        Contract.Decoded receipt = decodeOrSetAside(record);
                        if (receipt != null && receipt.record().equals("Receipt")) {
                            return receipt.value();
                        }
                    }
                }
            }
            throw new PublishException("no receipt for " + submission + " within " + timeout
                    + " (the router may be down; the event is on the ingress topic)");
        }
    }

    /**
     * Read this agency's inbox (consumer group {@code <agency>-<groupSuffix>}) until {@code until}
     * holds for a delivery; repeats of a delivery id are dropped. Returns the deliveries read.
     */
    public List<Delivery> readInbox(Predicate<Delivery> until, Duration timeout, String groupSuffix) throws PublishException {
        Properties props = connection();
        props.put(ConsumerConfig.GROUP_ID_CONFIG, options.agencyId() + "-" + groupSuffix);
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        List<Delivery> read = new ArrayList<>();
        try (KafkaConsumer<String, byte[]> inbox = new KafkaConsumer<>(props, new StringDeserializer(),
                new ByteArrayDeserializer())) {
            inbox.subscribe(List.of(topic("inbox")));
            long deadline = System.nanoTime() + timeout.toNanos();
            while (System.nanoTime() < deadline) {
                boolean done = false;
                for (ConsumerRecord<String, byte[]> record : inbox.poll(Duration.ofMillis(500))) {
                    String deliveryId = header(record, "rb-delivery-id");
                    if (deliveryId != null && !seen.add(deliveryId)) {
                        continue;
                    }
                    if (record.value() == null) {
                        continue;
                    }
                    Contract.Decoded decoded = decodeOrSetAside(record);
                    if (decoded == null) {
                        continue;
                    }
                    Delivery delivery = new Delivery(decoded.record(), decoded.value(), deliveryId,
                            header(record, "rb-paragraph"), header(record, "rb-purpose"),
                            "true".equals(header(record, "rb-redacted")), record.partition(), record.offset());
                    read.add(delivery);
                    done |= until.test(delivery);
                }
                inbox.commitSync();
                if (done) {
                    return read;
                }
            }
        }
        throw new PublishException("the awaited delivery did not arrive within " + timeout);
    }

    /** A record that does not decode is set aside (coordinates kept, never its bytes) and reading goes on. */
    private Contract.Decoded decodeOrSetAside(ConsumerRecord<String, byte[]> record) {
        try {
            return schemas.decode(record.value());
        } catch (Contract.ContractException e) {
            unreadable.addLast(record.topic() + ":" + record.partition() + ":" + record.offset() + " "
                    + e.getMessage().split(":", 2)[0]);
            if (unreadable.size() > 1000) {
                unreadable.removeFirst();
            }
            return null;
        }
    }

    /** {@code <topic>:<partition>:<offset> <reason code>} of the most recent records that did not decode. */
    public List<String> unreadable() {
        return List.copyOf(unreadable);
    }

    private static String header(ConsumerRecord<?, ?> record, String name) {
        Header header = record.headers().lastHeader(name);
        return header == null ? null : new String(header.value(), StandardCharsets.UTF_8);
    }

    @Override
    public void close() {
        if (producer != null) {
            producer.close(Duration.ofSeconds(10));
            producer = null;
        }
    }
}
