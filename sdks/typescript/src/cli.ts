/**
 * A small command line over the SDK, used by the bus's round-trip test (tests/sdks) and handy for
 * an agency's first connection. Connection and signing key come from the same environment
 * variables as the Python SDK (docs/security.md); prints one JSON line per result.
 *
 *   node dist/src/cli.js refer  --agency A --actor X --case C --city ALMATY --age 7 [--schemas DIR]
 *   node dist/src/cli.js inbox  --agency A --actor X --case C [--timeout-ms N] [--schemas DIR]
 */
import { resolve } from "node:path";
import { AgencyClient, optionsFromEnv } from "./client";
import { chainHash, fromBase64url, unpackSignature } from "./contract";

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
  const client = new AgencyClient(optionsFromEnv(need("agency"), need("actor"), schemas));
  const timeout = Number(a["timeout-ms"] ?? 90_000);
  try {
    if (command === "refer") {
      const event = client.event("ReferralMade", need("case"), {
        referral_kind: a.kind ?? "CHILD_PROTECTION", city: need("city"), child_age_years: Number(need("age")),
      });
      const receipt = await client.publish(event, timeout);
      console.log(JSON.stringify({ event_id: (event.envelope as any).event_id, receipt }));
      return receipt.status === "ACCEPTED" ? 0 : 1;
    }
    if (command === "inbox") {
      const caseId = need("case");
      const got = await client.readInbox((d) => (d.value.envelope as any)?.case_id === caseId, timeout);
      const match = got.find((d) => (d.value.envelope as any)?.case_id === caseId)!;
      const envelope = match.value.envelope as any;
      // the delivered copy's hash, recomputed here from its canonical JSON: the SDK's canonical form is the router's
      const hashOk = chainHash(envelope.previous_hash, match.value) === envelope.hash;
      const signedBy = envelope.signature ? unpackSignature(fromBase64url(envelope.signature)).keyId : null;
      console.log(JSON.stringify({ record: match.record, delivery_id: match.deliveryId, paragraph: match.paragraph,
                                   case_id: caseId, sequence: envelope.sequence, hash: envelope.hash,
                                   hash_ok: hashOk, signed_by: signedBy }));
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
