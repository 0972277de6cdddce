package kz.referralbus.sdk;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.util.Base64;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/** Every vector of sdks/test-vectors/vectors.json, which the bus's own Python code generates. */
class VectorsTest {
    private static final Path ROOT = Path.of("").toAbsolutePath().getParent().getParent();
    private static final HexFormat HEX = HexFormat.of();
    private final JsonNode vectors;
    private final Contract.Schemas schemas;
    private final PrivateKey key;
    private final PublicKey publicKey;

    VectorsTest() throws Exception {
        vectors = Contract.json().readTree(Files.readString(ROOT.resolve("sdks/test-vectors/vectors.json")));
        String dir = System.getenv("REFERRAL_BUS_SCHEMAS_DIR");
        schemas = new Contract.Schemas(dir != null ? Path.of(dir) : ROOT.resolve("schemas/avro"));
        key = Contract.privateKeyFromPem(vectors.path("test_key").path("pkcs8_pem").asText());
        publicKey = Contract.publicKeyFromRaw(HEX.parseHex(vectors.path("test_key").path("public_key_hex").asText()));
    }

    /** Equal as JSON values (Jackson's trees tell an int from a long; JSON does not). */
    private static void same(JsonNode expected, JsonNode actual, String what) {
        assertEquals(Contract.canonicalJson(expected), Contract.canonicalJson(actual), what);
    }

    private static String hex(byte[] bytes) {
        return HEX.formatHex(bytes);
    }

    @TestFactory
    Stream<DynamicTest> eventVectors() {
        return stream(vectors.path("events")).map(v -> DynamicTest.dynamicTest(v.path("name").asText(), () -> {
            String record = v.path("record").asText();
            assertEquals(v.path("schema_id").asInt(), schemas.id(record), "schema id");
            ObjectNode normal = schemas.normalise(record, v.path("event"));
            same(v.path("event"), normal, "normal form");
            assertEquals(v.path("signing_bytes_hex").asText(), hex(Contract.signingBytes(normal)), "signing bytes");
            String agency = v.path("event").path("envelope").path("producer").path("agency_id").asText();
            assertEquals(v.path("key_id").asText(), Contract.keyIdFor(agency, HEX.parseHex(vectors.path("test_key").path("public_key_hex").asText())));
            assertEquals(v.path("signature_hex").asText(), hex(Contract.ed25519(key, Contract.signingBytes(normal))), "signature");
            assertEquals(v.path("signature_field_hex").asText(),
                    hex(Contract.packSignature(v.path("key_id").asText(), HEX.parseHex(v.path("signature_hex").asText()))));
            ObjectNode signed = Contract.sign(normal, v.path("key_id").asText(), key);
            same(v.path("signed_event"), signed, "signed event");
            assertEquals(v.path("key_id").asText(), Contract.keyIdOf(Base64.getUrlDecoder().decode(
                    signed.path("envelope").path("signature").asText())));
            assertTrue(Contract.verify(signed, publicKey));
            assertEquals(v.path("framed_hex").asText(), hex(schemas.encode(record, signed)), "frame");
            Contract.Decoded decoded = schemas.decode(HEX.parseHex(v.path("framed_hex").asText()));
            assertEquals(record, decoded.record());
            same(v.path("signed_event"), decoded.value(), "decoded");
            JsonNode stampedVector = v.path("stamped");
            ObjectNode stamped = schemas.decode(HEX.parseHex(stampedVector.path("framed_hex").asText())).value();
            assertEquals(stampedVector.path("recorded_at").asText(), stamped.path("envelope").path("recorded_at").asText());
            ObjectNode unhashed = stamped.deepCopy();
            ((ObjectNode) unhashed.get("envelope")).putNull("hash");
            assertEquals(stampedVector.path("canonical_json").asText(), Contract.canonicalJson(unhashed), "canonical JSON");
            assertEquals(stampedVector.path("hash").asText(), Contract.chainHash(stampedVector.path("previous_hash").asText(), stamped));
            assertTrue(Contract.verify(stamped, publicKey), "the router's fields are outside the signature");
            partitions(v);
        }));
    }

    @TestFactory
    Stream<DynamicTest> recordVectors() {
        return stream(vectors.path("records")).map(v -> DynamicTest.dynamicTest(v.path("name").asText(), () -> {
            String record = v.path("record").asText();
            assertEquals(v.path("schema_id").asInt(), schemas.id(record));
            assertEquals(v.path("framed_hex").asText(), hex(schemas.encode(record, v.path("json"))));
            same(v.path("json"), schemas.decode(HEX.parseHex(v.path("framed_hex").asText())).value(), "decoded");
            assertEquals(v.path("canonical_json").asText(), Contract.canonicalJson(schemas.normalise(record, v.path("json"))));
            partitions(v);
        }));
    }

    private static void partitions(JsonNode v) {
        for (Iterator<Map.Entry<String, JsonNode>> it = v.path("partitions").fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            int count = Integer.parseInt(e.getKey());
            String key = v.path("key").asText();
            assertEquals(e.getValue().asInt(), Contract.partitionFor(key, count), key + " over " + count);
            // and what the Java client's own default partitioner does with a keyed record
            assertEquals(e.getValue().asInt(), BuiltInPartitioner.partitionForKey(key.getBytes(StandardCharsets.UTF_8), count));
        }
    }

    @Test
    void aTimeWithAnOffsetIsSignedInUtc() {
        JsonNode v = vectors.path("events").get(0);
        ObjectNode shifted = v.path("event").deepCopy();
        ((ObjectNode) shifted.get("envelope")).put("occurred_at", "2026-03-02T13:30:00+05:00");
        assertEquals(v.path("signing_bytes_hex").asText(), hex(Contract.signingBytes(schemas.normalise("ReferralMade", shifted))));
    }

    @Test
    void aUuidInCapitalsIsSignedAsTheBusRendersIt() {
        JsonNode v = vectors.path("events").get(0);
        ObjectNode shouted = v.path("event").deepCopy();
        ObjectNode envelope = (ObjectNode) shouted.get("envelope");
        envelope.put("event_id", envelope.path("event_id").asText().toUpperCase(java.util.Locale.ROOT));
        assertEquals(v.path("signing_bytes_hex").asText(), hex(Contract.signingBytes(schemas.normalise("ReferralMade", shouted))));
    }

    @Test
    void unknownFieldsAreRefusedByName() {
        ObjectNode event = vectors.path("events").get(0).path("event").deepCopy();
        event.put("colour", "red");
        Contract.ContractException e = assertThrows(Contract.ContractException.class, () -> schemas.normalise("ReferralMade", event));
        assertTrue(e.getMessage().contains("ReferralMade.colour: not a field"), e.getMessage());
    }

    @Test
    void aFrameThatIsNotOneIsRefusedWithTheReasonCode() {
        byte[] framed = HEX.parseHex(vectors.path("events").get(0).path("framed_hex").asText());
        assertTrue(assertThrows(Contract.ContractException.class, () -> schemas.decode(java.util.Arrays.copyOf(framed, 4)))
                .getMessage().startsWith("UNDECODABLE"));
        byte[] badMagic = framed.clone();
        badMagic[0] = 1;
        assertTrue(assertThrows(Contract.ContractException.class, () -> schemas.decode(badMagic)).getMessage().startsWith("BAD_MAGIC_BYTE"));
        byte[] unknown = framed.clone();
        unknown[1] = 0;
        unknown[2] = 0;
        unknown[3] = 0;
        unknown[4] = 1;
        assertTrue(assertThrows(Contract.ContractException.class, () -> schemas.decode(unknown)).getMessage().startsWith("UNKNOWN_SCHEMA_ID"));
    }

    @Test
    void theContractsOwnPartitionExamples() {
        assertEquals(List.of(0, 2, 2), Stream.of("KZ-ALA-000123", "KZ-ALA-000124", "KZ-NUR-000001")
                .map(k -> Contract.partitionFor(k, 3)).toList());
    }

    private static Stream<JsonNode> stream(JsonNode array) {
        Iterator<JsonNode> items = array.elements();
        Stream.Builder<JsonNode> out = Stream.builder();
        items.forEachRemaining(out::add);
        return out.build();
    }
}
