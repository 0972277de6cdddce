package kz.referralbus.sdk;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.CertificateFactory;
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
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
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
 *
 * <p>Personal data (docs/security.md): when the key vault's ingress public key is known
 * (REFERRAL_BUS_VAULT_PUBLIC_KEY_FILE), an event's personal part is sealed to it before signing
 * ({@link Sealing}), as the Python SDK does; a secured bus refuses it in clear. An inbox copy sealed
 * for this agency is opened with {@link #openPersonalData}: the gateway's key service unwraps the
 * copy's data key (REFERRAL_BUS_GATEWAY_URL, {@code POST /v1/keys/unwrap} as this agency; an audited
 * read) and the SDK decrypts here.
 */
public final class AgencyClient implements AutoCloseable {
    /** Connection, identity and signing key; {@link #fromEnv} reads the Python SDK's environment variables. */
    public record Options(String agencyId, String actorId, String bootstrapServers, String securityMode, String username,
                          String password, Path caFile, Path schemasDir, String topicPrefix, String keyId,
                          PrivateKey signingKey, Path vaultPublicKeyFile, String gatewayUrl) {
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
                    keyId, key, vaultPublicKeyFile(env), blankToNull(env.get("REFERRAL_BUS_GATEWAY_URL")));
        }

        /** This agency without sealing (personal data sent in clear: what a secured bus refuses; for tests). */
        public Options withoutVaultKey() {
            return new Options(agencyId, actorId, bootstrapServers, securityMode, username, password, caFile, schemasDir,
                    topicPrefix, keyId, signingKey, null, gatewayUrl);
        }

        private static Path vaultPublicKeyFile(Map<String, String> env) {
            String file = blankToNull(env.get("REFERRAL_BUS_VAULT_PUBLIC_KEY_FILE"));
            if (file != null) {
                return Path.of(file);
            }
            String dataDir = blankToNull(env.get("REFERRAL_BUS_DATA_DIR"));
            return Path.of(dataDir != null ? dataDir : ".referral-bus", "vault-public-key.pem");
        }

        private static String blankToNull(String value) {
            return value == null || value.isBlank() ? null : value;
        }
    }

    /** Unwraps a copy's data key: the gateway's {@code POST /v1/keys/unwrap} unless given. */
    @FunctionalInterface
    public interface Unwrap {
        byte[] unwrap(String caseId, String eventId, String recipient, byte[] wrappedKey, String purpose)
                throws PersonalDataUnavailable;
    }

    /**
     * An inbox copy's personal data could not be opened: {@link #code()} is the key service's
     * (NOT_ENTITLED, CASE_ERASED, UNKNOWN_CASE_KEY, BAD_WRAPPED_KEY, AUDIT_UNAVAILABLE, PURPOSE_REFUSED, …)
     * or NOT_SEALED_FOR_US / SEALED_DATA_INVALID / GATEWAY_UNREACHABLE from the SDK itself.
     */
    public static final class PersonalDataUnavailable extends Exception {
        private final String code;

        public PersonalDataUnavailable(String code, String message) {
            super(code + ": " + message);
            this.code = code;
        }

        public String code() {
            return code;
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
    private final Unwrap unwrap;
    /** The vault's public key file's modification time and raw key, read again when it changes (a rotated key). */
    private long vaultKeyModified = Long.MIN_VALUE;
    private byte[] vaultKey;

    public AgencyClient(Options options) throws IOException {
        this(options, null);
    }

    /** {@code unwrap}: how sealed inbox copies get their data key (null: the gateway at {@code gatewayUrl}). */
    public AgencyClient(Options options, Unwrap unwrap) throws IOException {
        this.options = options;
        this.schemas = new Contract.Schemas(options.schemasDir());
        this.unwrap = unwrap != null ? unwrap : this::unwrapAtGateway;
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

    /** The vault's ingress public key (raw 32 bytes), or null when its file is absent. */
    public byte[] vaultPublicKey() throws PublishException {
        Path file = options.vaultPublicKeyFile();
        if (file == null || !Files.isRegularFile(file)) {
            return null;
        }
        try {
            long modified = Files.getLastModifiedTime(file).toMillis();
            if (vaultKey == null || modified != vaultKeyModified) {
                vaultKey = Sealing.vaultPublicKeyFromPem(Files.readString(file));
                vaultKeyModified = modified;
            }
            return vaultKey;
        } catch (IOException | GeneralSecurityException | IllegalArgumentException e) {
            throw new PublishException(file + ": not the vault's X25519 public key (REFERRAL_BUS_VAULT_PUBLIC_KEY_FILE): "
                    + e.getMessage());
        }
    }

    /**
     * {@code event} (normalised) with its personal part sealed to the key vault when its public key is
     * known; as it is otherwise (nothing personal, or no vault key: the bus decides whether clear is allowed).
     */
    public ObjectNode seal(String record, ObjectNode event) throws PublishException {
        if (!Sealing.hasPersonal(record, event)) {
            return event;
        }
        byte[] key = vaultPublicKey();
        if (key == null) {
            return event;
        }
        try {
            return schemas.normalise(record, Sealing.seal(record, event, key, null));
        } catch (GeneralSecurityException e) {
            throw new PublishException("sealing the personal data failed: " + e.getClass().getSimpleName());
        }
    }

    /** Normalise, seal, sign and frame {@code event}: the bytes to send. */
    public byte[] prepare(JsonNode event) throws PublishException {
        String record = event.path("envelope").path("event_type").asText();
        if (options.signingKey() == null) {
            throw new PublishException("no signing key (REFERRAL_BUS_SIGNING_KEY_DIR)");
        }
        if (!options.agencyId().equals(event.path("envelope").path("producer").path("agency_id").asText())) {
            throw new PublishException("envelope.producer.agency_id must be " + options.agencyId());
        }
        try {
            ObjectNode sealed = seal(record, schemas.normalise(record, event));
            ObjectNode signed = Contract.sign(sealed, options.keyId(), options.signingKey());
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

    /**
     * The inbox copy with its personal data opened: the key service unwraps the copy's data key (an
     * audited read, with {@code purpose}), then it is decrypted here. A copy without a sealed part is
     * returned as it is.
     */
    public ObjectNode openPersonalData(String record, ObjectNode value, String purpose) throws PersonalDataUnavailable {
        JsonNode sealed = value.get("sealed");
        if (sealed == null || sealed.isNull()) {
            return value;
        }
        String recipient = sealed.path("recipient").asText();
        if (!options.agencyId().equals(recipient)) {
            throw new PersonalDataUnavailable("NOT_SEALED_FOR_US", "this copy is sealed for " + recipient + ", not for "
                    + options.agencyId());
        }
        JsonNode env = value.path("envelope");
        byte[] wrapped;
        try {
            wrapped = java.util.Base64.getUrlDecoder().decode(sealed.path("wrapped_key").asText());
        } catch (IllegalArgumentException e) {
            throw new PersonalDataUnavailable("SEALED_DATA_INVALID", "sealed.wrapped_key: not base64");
        }
        byte[] dataKey = unwrap.unwrap(env.path("case_id").asText(), env.path("event_id").asText(), recipient, wrapped,
                purpose);
        try {
            return schemas.normalise(record, Sealing.open(record, value, dataKey));
        } catch (Sealing.SealingException | Contract.ContractException e) {
            throw new PersonalDataUnavailable("SEALED_DATA_INVALID", e.getMessage());
        }
    }

    public ObjectNode openPersonalData(Delivery delivery, String purpose) throws PersonalDataUnavailable {
        return openPersonalData(delivery.record(), delivery.value(), purpose);
    }

    /** {@code POST {gateway}/v1/keys/unwrap} as this agency (HTTP Basic: its Kafka user name and password; the bus's CA). */
    private byte[] unwrapAtGateway(String caseId, String eventId, String recipient, byte[] wrappedKey, String purpose)
            throws PersonalDataUnavailable {
        String base = options.gatewayUrl();
        if (base == null) {
            throw new PersonalDataUnavailable("GATEWAY_UNREACHABLE", "no gateway to unwrap with: set REFERRAL_BUS_GATEWAY_URL");
        }
        ObjectNode body = Contract.json().createObjectNode();
        body.put("case_id", caseId).put("event_id", eventId).put("recipient", recipient)
                .put("wrapped_key", java.util.Base64.getEncoder().encodeToString(wrappedKey)).put("purpose", purpose);
        String user = options.username() != null ? options.username() : options.agencyId();
        String token = java.util.Base64.getEncoder().encodeToString(
                (user + ":" + (options.password() != null ? options.password() : "")).getBytes(StandardCharsets.UTF_8));
        HttpResponse<byte[]> response;
        try {
            HttpClient.Builder http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(30));
            if (options.caFile() != null) {
                http.sslContext(trusting(options.caFile()));
            }
            HttpRequest request = HttpRequest.newBuilder(URI.create(base.replaceAll("/+$", "") + "/v1/keys/unwrap"))
                    .timeout(Duration.ofSeconds(30)).header("Content-Type", "application/json")
                    .header("Authorization", "Basic " + token)
                    .POST(HttpRequest.BodyPublishers.ofString(body.toString(), StandardCharsets.UTF_8)).build();
            response = http.build().send(request, HttpResponse.BodyHandlers.ofByteArray());
        } catch (IOException | GeneralSecurityException | IllegalArgumentException e) {
            throw new PersonalDataUnavailable("GATEWAY_UNREACHABLE", base + ": " + e.getClass().getSimpleName());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new PersonalDataUnavailable("GATEWAY_UNREACHABLE", base + ": interrupted");
        }
        JsonNode answer;
        try {
            answer = Contract.json().readTree(response.body());
        } catch (IOException e) {
            answer = null;
        }
        if (response.statusCode() == 200 && answer != null && answer.path("data_key").isTextual()) {
            return java.util.Base64.getDecoder().decode(answer.path("data_key").asText());
        }
        if (answer != null && answer.path("code").isTextual()) {
            throw new PersonalDataUnavailable(answer.path("code").asText(), answer.path("message").asText(""));
        }
        throw new PersonalDataUnavailable("HTTP_" + response.statusCode(), "the gateway refused");
    }

    /** TLS that trusts the bus's CA (the PEM file the agency was given with its Kafka credentials). */
    private static SSLContext trusting(Path caFile) throws IOException, GeneralSecurityException {
        KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
        store.load(null, null);
        try (InputStream in = Files.newInputStream(caFile)) {
            int i = 0;
            for (var certificate : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
                store.setCertificateEntry("ca-" + i++, certificate);
            }
        }
        TrustManagerFactory trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        trust.init(store);
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(null, trust.getTrustManagers(), null);
        return context;
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
