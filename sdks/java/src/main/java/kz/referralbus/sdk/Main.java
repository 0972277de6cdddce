package kz.referralbus.sdk;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A small command line over the SDK, used by the bus's round-trip test (tests/sdks) and handy for
 * an agency's first connection. Connection and signing key come from the Python SDK's environment
 * variables (docs/security.md); prints one JSON line per result.
 *
 * <pre>
 *   java -jar referral-bus-agency-client-0.1.0-all.jar refer --agency A --actor X --case C --city ALMATY --age 7 --schemas DIR
 *   java -jar referral-bus-agency-client-0.1.0-all.jar inbox --agency A --actor X --case C --schemas DIR
 * </pre>
 *
 * <p>{@code refer --child-name NAME [--referring-body TEXT]} adds personal data, sealed to the vault's
 * key (REFERRAL_BUS_VAULT_PUBLIC_KEY_FILE); {@code --seal no} sends it in clear (what a secured bus
 * refuses: for tests). {@code inbox --open-purpose P} opens the copy's personal data through the
 * gateway's key service (REFERRAL_BUS_GATEWAY_URL) and prints the child's name — a test tool: a real
 * system keeps personal data out of its output.
 */
public final class Main {
    private Main() {
    }

    public static void main(String[] argv) {
        int code;
        try {
            code = run(argv);
        } catch (Exception e) {
            System.err.println("error: " + e.getMessage());
            code = 2;
        }
        System.exit(code);
    }

    private static int run(String[] argv) throws Exception {
        if (argv.length == 0) {
            throw new IllegalArgumentException("usage: refer | inbox --agency A --actor X --case C [--city C --age N] --schemas DIR");
        }
        Map<String, String> a = new HashMap<>();
        for (int i = 1; i < argv.length; i += 2) {
            if (!argv[i].startsWith("--") || i + 1 >= argv.length) {
                throw new IllegalArgumentException("expected --name value, got " + argv[i]);
            }
            a.put(argv[i].substring(2), argv[i + 1]);
        }
        Duration timeout = Duration.ofMillis(Long.parseLong(a.getOrDefault("timeout-ms", "90000")));
        AgencyClient.Options options = AgencyClient.Options.fromEnv(need(a, "agency"), need(a, "actor"),
                Path.of(need(a, "schemas")));
        if ("no".equals(a.get("seal"))) {
            options = options.withoutVaultKey();
        }
        try (AgencyClient client = new AgencyClient(options)) {
            String caseId = need(a, "case");
            switch (argv[0]) {
                case "refer" -> {
                    Map<String, Object> fields = new HashMap<>(Map.of(
                            "referral_kind", a.getOrDefault("kind", "CHILD_PROTECTION"), "city", need(a, "city"),
                            "child_age_years", Long.parseLong(need(a, "age"))));
                    if (a.containsKey("child-name")) {
                        fields.put("personal_data", Map.of("child_name", a.get("child-name")));
                    }
                    if (a.containsKey("referring-body")) {
                        fields.put("referring_body", a.get("referring-body"));
                    }
                    ObjectNode event = client.event("ReferralMade", caseId, fields);
                    boolean sealed = Sealing.hasPersonal("ReferralMade", event) && client.vaultPublicKey() != null;
                    ObjectNode receipt = client.publish(event, timeout);
                    ObjectNode out = Contract.json().createObjectNode();
                    out.put("event_id", event.path("envelope").path("event_id").asText());
                    out.put("sealed", sealed);
                    out.set("receipt", receipt);
                    System.out.println(out);
                    return "ACCEPTED".equals(receipt.path("status").asText()) ? 0 : 1;
                }
                case "inbox" -> {
                    List<AgencyClient.Delivery> read = client.readInbox(
                            d -> caseId.equals(d.value().path("envelope").path("case_id").asText()), timeout, "inbox");
                    AgencyClient.Delivery match = read.stream()
                            .filter(d -> caseId.equals(d.value().path("envelope").path("case_id").asText())).findFirst().orElseThrow();
                    ObjectNode out = Contract.json().createObjectNode();
                    out.put("record", match.record());
                    out.put("delivery_id", match.deliveryId());
                    out.put("paragraph", match.paragraph());
                    out.put("case_id", caseId);
                    JsonNode envelope = match.value().path("envelope");
                    out.set("sequence", envelope.path("sequence"));
                    out.set("hash", envelope.path("hash"));
                    // the delivered copy's hash, recomputed here: the SDK's canonical form is the router's
                    // (null for a sealed copy: the chain hash is the case log's record, whose data key is wrapped
                    // for rb.case-log, not for this agency — the copy's signature still covers nonce and ciphertext)
                    if (match.value().path("sealed").isObject()) {
                        out.putNull("hash_ok");
                    } else {
                        out.put("hash_ok", envelope.path("hash").asText().equals(
                                Contract.chainHash(envelope.path("previous_hash").asText(), match.value())));
                    }
                    out.put("signed_by", envelope.path("signature").isTextual() ? Contract.keyIdOf(
                            Base64.getUrlDecoder().decode(envelope.path("signature").asText())) : null);
                    JsonNode sealedPart = match.value().path("sealed");
                    out.put("sealed_for", sealedPart.isObject() ? sealedPart.path("recipient").asText() : null);
                    if (a.containsKey("open-purpose")) {
                        ObjectNode opened = client.openPersonalData(match, a.get("open-purpose"));
                        out.set("child_name", opened.path("personal_data").path("child_name"));
                        out.set("referring_body", opened.path("referring_body"));
                    }
                    System.out.println(out);
                    return 0;
                }
                default -> throw new IllegalArgumentException("unknown command " + argv[0] + ": refer | inbox");
            }
        }
    }

    private static String need(Map<String, String> a, String name) {
        String value = a.get(name);
        if (value == null) {
            throw new IllegalArgumentException("--" + name + " is required");
        }
        return value;
    }
}
