package kz.referralbus.sdk;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.Signature;
import java.security.spec.PKCS8EncodedKeySpec;
import java.security.spec.X509EncodedKeySpec;
import java.time.Instant;
import java.time.LocalDate;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.Arrays;
import java.util.Base64;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.apache.avro.LogicalType;
import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.kafka.common.utils.Utils;

/**
 * The referral bus's wire contract (docs/contract.md), without Kafka: schemas and their ids, the
 * Confluent framing, JSON to and from Avro, the canonical JSON that is hashed and signed, the
 * Ed25519 signature field and Kafka's murmur2 partition. Checked byte for byte against
 * sdks/test-vectors/vectors.json, which the bus's own Python code generates.
 *
 * <p>Events are Jackson trees in the bus's canonical JSON shape (pydantic's JSON-mode dump):
 * times as ISO-8601 text, dates as {@code YYYY-MM-DD}, bytes as URL-safe base64 with padding.
 */
public final class Contract {
    public static final String SIGNATURE_LABEL = "referral-bus event signature v1\n";
    public static final String GENESIS = "0".repeat(64);
    private static final int SIGNATURE_FORMAT = 1;
    private static final List<String> ROUTER_FIELDS = List.of("recorded_at", "sequence", "previous_hash", "hash", "signature");
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
    private static final Pattern TIMESTAMP = Pattern.compile(
            "\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,6})?(Z|[+-]\\d{2}:\\d{2})");
    private static final Pattern UUID = Pattern.compile(
            "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}");
    private static final DateTimeFormatter SECONDS = DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss").withZone(ZoneOffset.UTC);

    private Contract() {
    }

    /** A value the contract refuses; the message names the field. */
    public static final class ContractException extends RuntimeException {
        public ContractException(String message) {
            super(message);
        }
    }

    /** A frame decoded: the record's name and its value in canonical JSON shape. */
    public record Decoded(String record, ObjectNode value) {
    }

    /** Every record's schema from a schemas directory (current {@code <Record>.avsc} and released {@code versions/}). */
    public static final class Schemas {
        private final Path dir;
        private final Map<String, Schema> current = new HashMap<>();
        private final Map<String, Integer> currentIds = new HashMap<>();
        private final Map<Integer, Schema> byId = new HashMap<>();
        private final Map<String, Integer> released = new HashMap<>();

        public Schemas(Path dir) throws IOException {
            this.dir = dir;
            try (Stream<Path> files = Files.list(dir)) {
                for (Path file : files.filter(f -> f.toString().endsWith(".avsc")).toList()) {
                    Schema schema = parse(file);
                    current.put(schema.getName(), schema);
                    currentIds.put(schema.getName(), schemaId(schema));
                    byId.put(schemaId(schema), schema);
                }
            }
            Path versions = dir.resolve("versions");
            if (Files.isDirectory(versions)) {
                try (Stream<Path> records = Files.list(versions)) {
                    for (Path record : records.toList()) {
                        try (Stream<Path> files = Files.list(record)) {
                            List<Path> avsc = files.filter(f -> f.toString().endsWith(".avsc")).toList();
                            released.put(record.getFileName().toString(), avsc.size());
                            for (Path file : avsc) {
                                Schema schema = parse(file);
                                byId.putIfAbsent(schemaId(schema), schema);
                            }
                        }
                    }
                }
            }
            if (current.isEmpty()) {
                throw new ContractException("no .avsc schema in " + dir);
            }
        }

        private static Schema parse(Path file) throws IOException {
            return new Schema.Parser().parse(file.toFile()); // a parser per file: the files repeat named types
        }

        public Schema of(String record) {
            Schema schema = current.get(record);
            if (schema == null) {
                throw new ContractException("record " + record + " is not in the contract (" + dir + ")");
            }
            return schema;
        }

        public int id(String record) {
            of(record);
            return currentIds.get(record);
        }

        /** envelope.schema_version: the number of released versions, 1 when never frozen. */
        public int version(String record) {
            return Math.max(1, released.getOrDefault(record, 0));
        }

        /** {@code value} in the Confluent framing, written with the current schema. */
        public byte[] encode(String record, JsonNode value) {
            Schema schema = of(record);
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            out.write(0);
            out.writeBytes(ByteBuffer.allocate(4).putInt(id(record)).array());
            BinaryEncoder encoder = EncoderFactory.get().binaryEncoder(out, null);
            try {
                new GenericDatumWriter<Object>(schema).write(toAvro(schema, value, record), encoder);
                encoder.flush();
            } catch (IOException e) {
                throw new ContractException(record + ": does not encode: " + e.getMessage());
            }
            return out.toByteArray();
        }

        /** A frame back to its record name and canonical JSON value, read with the current schema. */
        public Decoded decode(byte[] frame) {
            if (frame.length < 5) {
                throw new ContractException("UNDECODABLE: " + frame.length + " bytes is shorter than the 5-byte header");
            }
            if (frame[0] != 0) {
                throw new ContractException("BAD_MAGIC_BYTE: magic byte is " + frame[0] + ", expected 0");
            }
            int id = ByteBuffer.wrap(frame, 1, 4).getInt();
            Schema writer = byId.get(id);
            if (writer == null) {
                throw new ContractException("UNKNOWN_SCHEMA_ID: schema id " + id + " is not in " + dir);
            }
            Schema reader = of(writer.getName());
            try {
                Object datum = new GenericDatumReader<>(writer, reader)
                        .read(null, DecoderFactory.get().binaryDecoder(frame, 5, frame.length - 5, null));
                return new Decoded(writer.getName(), (ObjectNode) fromAvro(reader, datum));
            } catch (IOException | RuntimeException e) {
                throw new ContractException("UNDECODABLE: does not decode with schema " + id + ": " + e.getClass().getSimpleName());
            }
        }

        /** {@code value} as the bus sees it after an Avro round trip: defaults filled in, times in UTC. */
        public ObjectNode normalise(String record, JsonNode value) {
            Schema schema = of(record);
            return (ObjectNode) fromAvro(schema, toAvro(schema, value, record));
        }
    }

    /** SHA-256 of the Parsing Canonical Form, first 4 bytes big-endian, top bit cleared. */
    public static int schemaId(Schema schema) {
        byte[] digest = sha256(SchemaNormalization.toParsingForm(schema).getBytes(StandardCharsets.UTF_8));
        return ByteBuffer.wrap(digest, 0, 4).getInt() & 0x7fffffff;
    }

    private static Schema nonNull(Schema union, String path) {
        List<Schema> branches = union.getTypes().stream().filter(s -> s.getType() != Schema.Type.NULL).toList();
        if (branches.size() != 1) {
            throw new ContractException(path + ": unions of several non-null types are not in the contract");
        }
        return branches.get(0);
    }

    private static String logical(Schema schema) {
        LogicalType logical = schema.getLogicalType();
        return logical == null ? "" : logical.getName();
    }

    static Object toAvro(Schema schema, JsonNode value, String path) {
        if (schema.getType() == Schema.Type.UNION) {
            if (value == null || value.isNull()) {
                if (schema.getTypes().stream().noneMatch(s -> s.getType() == Schema.Type.NULL)) {
                    throw new ContractException(path + ": may not be null");
                }
                return null;
            }
            return toAvro(nonNull(schema, path), value, path);
        }
        if (value == null || value.isNull()) {
            if (schema.getType() == Schema.Type.NULL) {
                return null;
            }
            throw new ContractException(path + ": may not be null");
        }
        switch (schema.getType()) {
            case BOOLEAN:
                want(value.isBoolean(), path, "a boolean", value);
                return value.booleanValue();
            case STRING:
                if (logical(schema).equals("uuid")) {
                    // the bus reads a UUID and renders it lowercase: sign and send that form
                    want(value.isTextual() && UUID.matcher(value.textValue()).matches(), path, "a UUID 8-4-4-4-12 hex", value);
                    return value.textValue().toLowerCase(java.util.Locale.ROOT);
                }
                want(value.isTextual(), path, "a string", value);
                return value.textValue();
            case LONG:
                if (logical(schema).equals("timestamp-micros")) {
                    want(value.isTextual(), path, "an ISO-8601 time", value);
                    return parseTimestamp(value.textValue(), path);
                }
                want(value.isIntegralNumber() && value.canConvertToLong(), path, "an integer", value);
                return value.longValue();
            case INT:
                if (logical(schema).equals("date")) {
                    want(value.isTextual(), path, "a date YYYY-MM-DD", value);
                    try {
                        return (int) LocalDate.parse(value.textValue()).toEpochDay();
                    } catch (DateTimeParseException e) {
                        throw new ContractException(path + ": " + value + " is not a date YYYY-MM-DD");
                    }
                }
                want(value.isIntegralNumber() && value.canConvertToInt(), path, "an integer", value);
                return value.intValue();
            case BYTES:
                want(value.isTextual(), path, "URL-safe base64", value);
                return ByteBuffer.wrap(Base64.getUrlDecoder().decode(value.textValue()));
            case ENUM:
                want(value.isTextual() && schema.getEnumSymbols().contains(value.textValue()), path,
                        "one of " + schema.getEnumSymbols(), value);
                return new GenericData.EnumSymbol(schema, value.textValue());
            case ARRAY: {
                want(value.isArray(), path, "an array", value);
                GenericData.Array<Object> out = new GenericData.Array<>(value.size(), schema);
                for (int i = 0; i < value.size(); i++) {
                    out.add(toAvro(schema.getElementType(), value.get(i), path + "[" + i + "]"));
                }
                return out;
            }
            case RECORD: {
                want(value.isObject(), path, "an object", value);
                for (Iterator<String> names = value.fieldNames(); names.hasNext(); ) {
                    String name = names.next();
                    if (schema.getField(name) == null) {
                        throw new ContractException(path + "." + name + ": not a field of " + schema.getName());
                    }
                }
                GenericData.Record out = new GenericData.Record(schema);
                for (Schema.Field field : schema.getFields()) {
                    JsonNode v = value.get(field.name());
                    if (v == null) {
                        if (!field.hasDefaultValue()) {
                            throw new ContractException(path + "." + field.name() + ": required");
                        }
                        v = JSON.valueToTree(field.defaultVal() == org.apache.avro.JsonProperties.NULL_VALUE ? null : field.defaultVal());
                    }
                    out.put(field.name(), toAvro(field.schema(), v, path + "." + field.name()));
                }
                return out;
            }
            default:
                throw new ContractException(path + ": Avro type " + schema.getType() + " is not in the contract");
        }
    }

    private static void want(boolean ok, String path, String what, JsonNode value) {
        if (!ok) {
            throw new ContractException(path + ": expected " + what + ", got " + value);
        }
    }

    static JsonNode fromAvro(Schema schema, Object datum) {
        if (schema.getType() == Schema.Type.UNION) {
            return datum == null ? NODES.nullNode() : fromAvro(nonNull(schema, "?"), datum);
        }
        switch (schema.getType()) {
            case NULL:
                return NODES.nullNode();
            case BOOLEAN:
                return NODES.booleanNode((Boolean) datum);
            case STRING:
            case ENUM:
                return NODES.textNode(datum.toString());
            case LONG:
                return logical(schema).equals("timestamp-micros") ? NODES.textNode(formatTimestamp((Long) datum))
                        : NODES.numberNode((Long) datum);
            case INT:
                return logical(schema).equals("date") ? NODES.textNode(LocalDate.ofEpochDay((Integer) datum).toString())
                        : NODES.numberNode((Integer) datum);
            case BYTES: {
                ByteBuffer buffer = ((ByteBuffer) datum).duplicate();
                byte[] bytes = new byte[buffer.remaining()];
                buffer.get(bytes);
                return NODES.textNode(Base64.getUrlEncoder().encodeToString(bytes));
            }
            case ARRAY: {
                ArrayNode out = NODES.arrayNode();
                for (Object item : (List<?>) datum) {
                    out.add(fromAvro(schema.getElementType(), item));
                }
                return out;
            }
            case RECORD: {
                ObjectNode out = NODES.objectNode();
                GenericRecord record = (GenericRecord) datum;
                for (Schema.Field field : schema.getFields()) {
                    out.set(field.name(), fromAvro(field.schema(), record.get(field.name())));
                }
                return out;
            }
            default:
                throw new ContractException("Avro type " + schema.getType() + " is not in the contract");
        }
    }

    /** ISO-8601 with {@code Z} or an offset, at most microseconds, to microseconds since the epoch. */
    public static long parseTimestamp(String text, String path) {
        if (!TIMESTAMP.matcher(text).matches()) {
            throw new ContractException(path + ": \"" + text + "\" is not an ISO-8601 time with an offset (at most microseconds)");
        }
        Instant instant = OffsetDateTime.parse(text).toInstant();
        return Math.addExact(Math.multiplyExact(instant.getEpochSecond(), 1_000_000L), instant.getNano() / 1000);
    }

    /** pydantic's rendering: UTC, {@code Z}, six fraction digits, or none when the microseconds are 0. */
    public static String formatTimestamp(long micros) {
        long seconds = Math.floorDiv(micros, 1_000_000L);
        long sub = Math.floorMod(micros, 1_000_000L);
        String base = SECONDS.format(Instant.ofEpochSecond(seconds));
        return sub == 0 ? base + "Z" : base + "." + String.format("%06d", sub) + "Z";
    }

    /**
     * The canonical JSON text: keys sorted by code point, no whitespace, non-ASCII as is, control
     * characters escaped as Python's {@code json.dumps(..., ensure_ascii=False)} does.
     */
    public static String canonicalJson(JsonNode value) {
        StringBuilder out = new StringBuilder();
        write(value, out);
        return out.toString();
    }

    private static void write(JsonNode value, StringBuilder out) {
        if (value == null || value.isNull()) {
            out.append("null");
        } else if (value.isBoolean()) {
            out.append(value.booleanValue());
        } else if (value.isIntegralNumber()) {
            out.append(value.bigIntegerValue());
        } else if (value.isTextual()) {
            string(value.textValue(), out);
        } else if (value.isArray()) {
            out.append('[');
            for (int i = 0; i < value.size(); i++) {
                if (i > 0) {
                    out.append(',');
                }
                write(value.get(i), out);
            }
            out.append(']');
        } else if (value.isObject()) {
            TreeMap<String, JsonNode> sorted = new TreeMap<>(Contract::byCodePoint);
            value.fields().forEachRemaining(e -> sorted.put(e.getKey(), e.getValue()));
            out.append('{');
            boolean first = true;
            for (Map.Entry<String, JsonNode> e : sorted.entrySet()) {
                if (!first) {
                    out.append(',');
                }
                first = false;
                string(e.getKey(), out);
                out.append(':');
                write(e.getValue(), out);
            }
            out.append('}');
        } else {
            throw new ContractException("canonical JSON holds no " + value.getNodeType() + " (only integers, text, "
                    + "booleans, null, arrays and objects)");
        }
    }

    private static int byCodePoint(String a, String b) {
        return Arrays.compare(a.codePoints().toArray(), b.codePoints().toArray());
    }

    private static void string(String text, StringBuilder out) {
        out.append('"');
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                case '\b' -> out.append("\\b");
                case '\f' -> out.append("\\f");
                default -> {
                    if (c < 0x20) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        out.append('"');
    }

    private static ObjectNode blanked(JsonNode event, List<String> fields) {
        ObjectNode copy = event.deepCopy();
        ObjectNode envelope = (ObjectNode) copy.get("envelope");
        for (String field : fields) {
            envelope.putNull(field);
        }
        return copy;
    }

    /**
     * What a producer signs: the label, then the canonical JSON with the router's fields and the
     * signature blank — and, in sealed personal data, the wrapping blank ({@code wrapped_key},
     * {@code key_ref}, {@code recipient}), which the router changes for every copy; scheme, nonce and
     * ciphertext are signed.
     */
    public static byte[] signingBytes(JsonNode event) {
        ObjectNode body = blanked(event, ROUTER_FIELDS);
        if (body.get("sealed") instanceof ObjectNode sealed) {
            sealed.putNull("wrapped_key").putNull("key_ref").putNull("recipient");
        }
        return (SIGNATURE_LABEL + canonicalJson(body)).getBytes(StandardCharsets.UTF_8);
    }

    /** SHA-256 hex of the previous hash (hex text) then the canonical JSON with {@code hash} blank. */
    public static String chainHash(String previousHash, JsonNode event) {
        String text = previousHash + canonicalJson(blanked(event, List.of("hash")));
        return HexFormat.of().formatHex(sha256(text.getBytes(StandardCharsets.UTF_8)));
    }

    public static String keyIdFor(String agencyId, byte[] rawPublicKey) {
        return agencyId + ":" + HexFormat.of().formatHex(sha256(rawPublicKey)).substring(0, 16);
    }

    /** envelope.signature: 0x01, key id length, key id (ASCII), the 64-byte Ed25519 signature. */
    public static byte[] packSignature(String keyId, byte[] signature) {
        byte[] id = keyId.getBytes(StandardCharsets.US_ASCII);
        if (signature.length != 64 || id.length > 255) {
            throw new ContractException("a packed signature holds a key id of at most 255 bytes and 64 signature bytes");
        }
        ByteBuffer out = ByteBuffer.allocate(2 + id.length + 64);
        out.put((byte) SIGNATURE_FORMAT).put((byte) id.length).put(id).put(signature);
        return out.array();
    }

    /** The raw 64-byte signature from a packed signature field (key id checked to be well formed). */
    public static byte[] unpackSignature(byte[] field) {
        if (field.length < 2 || field[0] != SIGNATURE_FORMAT || field.length != 2 + (field[1] & 0xff) + 64) {
            throw new ContractException("envelope.signature must be 0x01, a key id and a 64-byte Ed25519 signature");
        }
        byte[] signature = new byte[64];
        System.arraycopy(field, 2 + (field[1] & 0xff), signature, 0, 64);
        return signature;
    }

    public static String keyIdOf(byte[] field) {
        unpackSignature(field);
        return new String(field, 2, field[1] & 0xff, StandardCharsets.US_ASCII);
    }

    /** An Ed25519 private key from PKCS#8 PEM text (the bus's key store format). */
    public static PrivateKey privateKeyFromPem(String pem) throws GeneralSecurityException {
        String body = pem.replaceAll("-----[A-Z ]+-----", "").replaceAll("\\s", "");
        return KeyFactory.getInstance("Ed25519").generatePrivate(new PKCS8EncodedKeySpec(Base64.getDecoder().decode(body)));
    }

    /** An Ed25519 public key from its raw 32 bytes. */
    public static PublicKey publicKeyFromRaw(byte[] raw) throws GeneralSecurityException {
        byte[] prefix = HexFormat.of().parseHex("302a300506032b6570032100"); // SubjectPublicKeyInfo, OID 1.3.101.112
        byte[] der = new byte[prefix.length + raw.length];
        System.arraycopy(prefix, 0, der, 0, prefix.length);
        System.arraycopy(raw, 0, der, prefix.length, raw.length);
        return KeyFactory.getInstance("Ed25519").generatePublic(new X509EncodedKeySpec(der));
    }

    public static byte[] ed25519(PrivateKey key, byte[] message) throws GeneralSecurityException {
        Signature signer = Signature.getInstance("Ed25519");
        signer.initSign(key);
        signer.update(message);
        return signer.sign();
    }

    /** {@code event} (normalised) with envelope.signature set. */
    public static ObjectNode sign(JsonNode event, String keyId, PrivateKey key) throws GeneralSecurityException {
        byte[] field = packSignature(keyId, ed25519(key, signingBytes(event)));
        ObjectNode copy = event.deepCopy();
        ((ObjectNode) copy.get("envelope")).put("signature", Base64.getUrlEncoder().encodeToString(field));
        return copy;
    }

    public static boolean verify(JsonNode event, PublicKey publicKey) throws GeneralSecurityException {
        JsonNode field = event.get("envelope").get("signature");
        if (field == null || !field.isTextual()) {
            return false;
        }
        Signature verifier = Signature.getInstance("Ed25519");
        verifier.initVerify(publicKey);
        verifier.update(signingBytes(event));
        return verifier.verify(unpackSignature(Base64.getUrlDecoder().decode(field.textValue())));
    }

    /** The partition of a keyed record, as the Java client's default partitioner computes it. */
    public static int partitionFor(String key, int partitions) {
        return Utils.toPositive(Utils.murmur2(key.getBytes(StandardCharsets.UTF_8))) % partitions;
    }

    static byte[] sha256(byte[] data) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(data);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    static ObjectMapper json() {
        return JSON;
    }
}
