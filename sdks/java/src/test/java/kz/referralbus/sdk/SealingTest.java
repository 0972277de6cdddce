package kz.referralbus.sdk;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.spec.PKCS8EncodedKeySpec;
import java.security.spec.X509EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import javax.crypto.Cipher;
import javax.crypto.KeyAgreement;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import org.bouncycastle.crypto.digests.SHA256Digest;
import org.bouncycastle.crypto.generators.HKDFBytesGenerator;
import org.bouncycastle.crypto.params.HKDFParameters;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/** The sealing vectors of sdks/test-vectors/vectors.json ("sealing"), which the bus's domain/sealing.py generates. */
class SealingTest {
    private static final Path ROOT = Path.of("").toAbsolutePath().getParent().getParent();
    private static final HexFormat HEX = HexFormat.of();
    private final JsonNode vectors;
    private final JsonNode sealing;
    private final Path schemasDir;
    private final Contract.Schemas schemas;
    private final PrivateKey key;
    private final byte[] vaultPublic;

    SealingTest() throws Exception {
        vectors = Contract.json().readTree(Files.readString(ROOT.resolve("sdks/test-vectors/vectors.json")));
        sealing = vectors.path("sealing");
        String dir = System.getenv("REFERRAL_BUS_SCHEMAS_DIR");
        schemasDir = dir != null ? Path.of(dir) : ROOT.resolve("schemas/avro");
        schemas = new Contract.Schemas(schemasDir);
        key = Contract.privateKeyFromPem(vectors.path("test_key").path("pkcs8_pem").asText());
        vaultPublic = Sealing.vaultPublicKeyFromPem(sealing.path("test_vault_key").path("public_key_pem").asText());
    }

    private static void same(JsonNode expected, JsonNode actual, String what) {
        assertEquals(Contract.canonicalJson(expected), Contract.canonicalJson(actual), what);
    }

    private static byte[] hex(JsonNode text) {
        return HEX.parseHex(text.asText());
    }

    private static byte[] b64(JsonNode text) {
        return Base64.getUrlDecoder().decode(text.asText());
    }

    private AgencyClient client(String agency, AgencyClient.Unwrap unwrap) throws Exception {
        return new AgencyClient(new AgencyClient.Options(agency, "t", "localhost:9", "plaintext", null, null, null,
                schemasDir, "", null, null, null, null), unwrap);
    }

    /** What the vault does with a submission (a test-only re-implementation, to check that random seals open). */
    private byte[] vaultUnwrap(byte[] wrapped, String caseId, String eventId) throws Exception {
        PrivateKey vault = KeyFactory.getInstance("XDH").generatePrivate(new PKCS8EncodedKeySpec(HEX.parseHex(
                "302e020100300506032b656e04220420" + sealing.path("test_vault_key").path("private_key_hex").asText())));
        byte[] eph = java.util.Arrays.copyOfRange(wrapped, 0, 32);
        KeyAgreement agreement = KeyAgreement.getInstance("XDH");
        agreement.init(vault);
        agreement.doPhase(KeyFactory.getInstance("XDH").generatePublic(new X509EncodedKeySpec(HEX.parseHex(
                "302a300506032b656e032100" + HEX.formatHex(eph)))), true);
        byte[] salt = new byte[64];
        System.arraycopy(eph, 0, salt, 0, 32);
        System.arraycopy(vaultPublic, 0, salt, 32, 32);
        HKDFBytesGenerator hkdf = new HKDFBytesGenerator(new SHA256Digest());
        hkdf.init(new HKDFParameters(agreement.generateSecret(), salt,
                (sealing.path("wrap_label").asText() + "x25519").getBytes(StandardCharsets.UTF_8)));
        byte[] kek = new byte[32];
        hkdf.generateBytes(kek, 0, 32);
        Cipher cipher = Cipher.getInstance("AES/GCM/NoPadding");
        cipher.init(Cipher.DECRYPT_MODE, new SecretKeySpec(kek, "AES"),
                new GCMParameterSpec(128, java.util.Arrays.copyOfRange(wrapped, 32, 44)));
        String aad = sealing.path("wrap_label").asText() + Contract.canonicalJson(Contract.json().createArrayNode()
                .add(sealing.path("scheme").asText()).add(caseId).add(eventId).add(sealing.path("vault_recipient").asText())
                .add(sealing.path("test_vault_key").path("key_ref").asText()));
        cipher.updateAAD(aad.getBytes(StandardCharsets.UTF_8));
        return cipher.doFinal(java.util.Arrays.copyOfRange(wrapped, 44, wrapped.length));
    }

    @Test
    void theTableOfPersonalTextFieldsIsTheBuses() {
        Map<String, List<String>> published = new TreeMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = sealing.path("personal_text_fields").fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> entry = it.next();
            List<String> fields = new ArrayList<>();
            entry.getValue().forEach(f -> fields.add(f.asText()));
            published.put(entry.getKey(), fields);
        }
        assertEquals(published, new TreeMap<>(Sealing.PERSONAL_TEXT_FIELDS));
    }

    @Test
    void theVaultKeyAndItsKeyRef() throws Exception {
        assertEquals(sealing.path("test_vault_key").path("public_key_hex").asText(), HEX.formatHex(vaultPublic));
        assertEquals(sealing.path("test_vault_key").path("key_ref").asText(), Sealing.keyRefForPublic(vaultPublic));
        assertArrayEquals(vaultPublic, Sealing.publicOf(hex(sealing.path("test_vault_key").path("private_key_hex"))));
    }

    @TestFactory
    Stream<DynamicTest> sealVectors() {
        List<DynamicTest> tests = new ArrayList<>();
        sealing.path("seal").forEach(v -> tests.add(DynamicTest.dynamicTest(v.path("name").asText(), () -> {
            String record = v.path("record").asText();
            ObjectNode event = schemas.normalise(record, v.path("event"));
            same(v.path("event"), event, "normal form");
            assertTrue(Sealing.hasPersonal(record, event));
            assertEquals(v.path("personal_part_json").asText(), Contract.canonicalJson(Sealing.personalPart(record, event)));
            JsonNode in = v.path("inputs");
            Sealing.Fixed fixed = new Sealing.Fixed(hex(in.path("data_key_hex")), hex(in.path("nonce_hex")),
                    hex(in.path("ephemeral_private_key_hex")), hex(in.path("wrap_nonce_hex")));
            ObjectNode sealed = schemas.normalise(record, Sealing.seal(record, event, vaultPublic, fixed));
            assertEquals(v.path("ciphertext_hex").asText(), HEX.formatHex(b64(sealed.path("sealed").path("ciphertext"))));
            assertEquals(v.path("wrapped_key_hex").asText(), HEX.formatHex(b64(sealed.path("sealed").path("wrapped_key"))));
            same(v.path("sealed_event"), sealed, "sealed event");
            assertTrue(sealed.path("personal_data").isNull());
            assertFalse(sealed.toString().contains("Aigerim") || sealed.toString().contains("Invented reason"));
            assertEquals(v.path("signed").path("signing_bytes_hex").asText(), HEX.formatHex(Contract.signingBytes(sealed)));
            ObjectNode signed = Contract.sign(sealed, v.path("signed").path("key_id").asText(), key);
            same(v.path("signed").path("signed_event"), signed, "signed sealed event");
            assertEquals(v.path("signed").path("framed_hex").asText(), HEX.formatHex(schemas.encode(record, signed)));
            // sealing twice does nothing; a random seal differs and opens at the vault to the same personal part
            same(sealed, Sealing.seal(record, sealed, vaultPublic, null), "sealed twice");
            ObjectNode random = Sealing.seal(record, event, vaultPublic, null);
            assertNotEquals(random.path("sealed").path("ciphertext"), sealed.path("sealed").path("ciphertext"));
            JsonNode env = event.path("envelope");
            byte[] dataKey = vaultUnwrap(b64(random.path("sealed").path("wrapped_key")), env.path("case_id").asText(),
                    env.path("event_id").asText());
            same(event, schemas.normalise(record, Sealing.open(record, random, dataKey)), "random seal opened");
        })));
        return tests.stream();
    }

    @Test
    void theWrappingIsOutsideTheSignature() {
        JsonNode v = sealing.path("seal").get(0);
        ObjectNode rewrapped = v.path("signed").path("signed_event").deepCopy();
        ((ObjectNode) rewrapped.get("sealed")).put("recipient", "cam-almaty").put("key_ref", "case:00c0ffee00c0ffee")
                .put("wrapped_key", "AAAA");
        assertEquals(v.path("signed").path("signing_bytes_hex").asText(), HEX.formatHex(Contract.signingBytes(rewrapped)));
        ObjectNode altered = v.path("signed").path("signed_event").deepCopy();
        ((ObjectNode) altered.get("sealed")).put("nonce", "AAAAAAAAAAAAAAAA");
        assertNotEquals(v.path("signed").path("signing_bytes_hex").asText(), HEX.formatHex(Contract.signingBytes(altered)));
    }

    @TestFactory
    Stream<DynamicTest> openVectors() {
        List<DynamicTest> tests = new ArrayList<>();
        sealing.path("open").forEach(v -> tests.add(DynamicTest.dynamicTest(v.path("name").asText(), () -> {
            String record = v.path("record").asText();
            String agency = v.path("agency").asText();
            byte[] dataKey = hex(v.path("data_key_hex"));
            List<String> asked = new ArrayList<>();
            AgencyClient reader = client(agency, (caseId, eventId, recipient, wrapped, purpose) -> {
                asked.add(String.join("|", caseId, eventId, recipient, Base64.getEncoder().encodeToString(wrapped), purpose));
                return dataKey;
            });
            ObjectNode copy = (ObjectNode) v.path("inbox_copy");
            same(v.path("opened_event"), reader.openPersonalData(record, copy, "case work"), "opened copy");
            JsonNode request = v.path("unwrap_request");
            assertEquals(List.of(String.join("|", request.path("case_id").asText(), request.path("event_id").asText(),
                    request.path("recipient").asText(), request.path("wrapped_key").asText(), "case work")), asked);
            // another agency's copy is not asked for; a wrong key, an altered or a moved ciphertext do not open
            AgencyClient other = client("school-almaty", (c, e, r, w, p) -> dataKey);
            assertEquals("NOT_SEALED_FOR_US", assertThrows(AgencyClient.PersonalDataUnavailable.class,
                    () -> other.openPersonalData(record, copy, "x")).code());
            assertThrows(Sealing.SealingException.class, () -> Sealing.open(record, copy, new byte[32]));
            ObjectNode altered = copy.deepCopy();
            byte[] ct = b64(copy.path("sealed").path("ciphertext"));
            ct[0] ^= 1;
            ((ObjectNode) altered.get("sealed")).put("ciphertext", Base64.getUrlEncoder().encodeToString(ct));
            assertTrue(assertThrows(Sealing.SealingException.class, () -> Sealing.open(record, altered, dataKey))
                    .getMessage().startsWith("sealed.ciphertext: does not open"));
            ObjectNode moved = copy.deepCopy();
            ((ObjectNode) moved.get("envelope")).put("case_id", "KZ-ALA-999999");
            assertThrows(Sealing.SealingException.class, () -> Sealing.open(record, moved, dataKey));
            assertEquals("GATEWAY_UNREACHABLE", assertThrows(AgencyClient.PersonalDataUnavailable.class,
                    () -> client(agency, null).openPersonalData(record, copy, "x")).code());
        })));
        return tests.stream();
    }
}
