/**
 * A small command line over the SDK, used by the bus's round-trip test (tests/sdks) and handy for
 * an agency's first connection. Connection and signing key come from the same environment
 * variables as the Python SDK (docs/security.md); prints one JSON line per result.
 *
 *   node dist/src/cli.js refer  --agency A --actor X --case C --city ALMATY --age 7 [--schemas DIR]
 *                               [--child-name NAME [--referring-body TEXT]] [--seal no]
 *   node dist/src/cli.js inbox  --agency A --actor X --case C [--timeout-ms N] [--schemas DIR] [--open-purpose P]
 *
 * `--child-name` adds personal data, sealed to the vault's key (REFERRAL_BUS_VAULT_PUBLIC_KEY_FILE);
 * `--seal no` sends it in clear (what a secured bus refuses: for tests). `--open-purpose` opens the
 * copy's personal data through the gateway's key service (REFERRAL_BUS_GATEWAY_URL) and prints the
 * child's name — a test tool: a real system keeps personal data out of its output.
 */
import { resolve } from "node:path";
import { AgencyClient, optionsFromEnv } from "./client";
import { chainHash, fromBase64url, JsonObject, unpackSignature } from "./contract";
import { hasPersonal } from "./sealing";

function args(argv: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith("--") || argv[i + 1] === undefined) throw new Error(`expected --name value, got ${argv[i]}`);
    out[argv[i].slice(2)] = argv[i + 1];
  }
  return out;
}

async function main(): Promise<number> {
  const [command, ...rest] = process.argv.slice(2);
  const a = args(rest);
  const need = (name: string) => {
    if (!a[name]) throw new Error(`--${name} is required`);
    return a[name];
  };
  const schemas = a.schemas ?? resolve(__dirname, "../../../../schemas/avro");
  const options = optionsFromEnv(need("agency"), need("actor"), schemas);
  if (a.seal === "no") options.vaultPublicKeyFile = undefined;
  const client = new AgencyClient(options);
  const timeout = Number(a["timeout-ms"] ?? 90_000);
  try {
    if (command === "refer") {
      const fields: JsonObject = {
        referral_kind: a.kind ?? "CHILD_PROTECTION", city: need("city"), child_age_years: Number(need("age")),
      };
      if (a["child-name"]) fields.personal_data = { child_name: a["child-name"] };
      if (a["referring-body"]) fields.referring_body = a["referring-body"];
      const event = client.event("ReferralMade", need("case"), fields);
      const sealed = hasPersonal("ReferralMade", event) && client.vaultPublicKey() !== undefined;
      const receipt = await client.publish(event, timeout);
      console.log(JSON.stringify({ event_id: (event.envelope as any).event_id, sealed, receipt }));
      return receipt.status === "ACCEPTED" ? 0 : 1;
    }
    if (command === "inbox") {
      const caseId = need("case");
      const got = await client.readInbox((d) => (d.value.envelope as any)?.case_id === caseId, timeout);
      const match = got.find((d) => (d.value.envelope as any)?.case_id === caseId)!;
      const envelope = match.value.envelope as any;
      // the delivered copy's hash, recomputed here from its canonical JSON: the SDK's canonical form is the router's
      // (null for a sealed copy: the chain hash is the case log's record, whose data key is wrapped for
      // rb.case-log, not for this agency — the copy's signature still covers nonce and ciphertext)
      const hashOk = match.value.sealed ? null : chainHash(envelope.previous_hash, match.value) === envelope.hash;
      const signedBy = envelope.signature ? unpackSignature(fromBase64url(envelope.signature)).keyId : null;
      const sealedFor = (match.value.sealed as any)?.recipient ?? null;
      const out: JsonObject = { record: match.record, delivery_id: match.deliveryId, paragraph: match.paragraph,
                                case_id: caseId, sequence: envelope.sequence, hash: envelope.hash,
                                hash_ok: hashOk, signed_by: signedBy, sealed_for: sealedFor };
      if (a["open-purpose"]) {
        const opened = await client.openPersonalData(match, a["open-purpose"]);
        out.child_name = (opened.personal_data as any)?.child_name ?? null;
        out.referring_body = (opened.referring_body as any) ?? null;
      }
      console.log(JSON.stringify(out));
      return 0;
    }
    throw new Error(`unknown command ${command}: refer | inbox`);
  } finally {
    await client.close();
  }
}

main().then((code) => process.exit(code), (err) => {
  console.error(`error: ${err instanceof Error ? err.message : err}`);
  process.exit(2);
});
