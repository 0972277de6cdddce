/** The sealing vectors of sdks/test-vectors/vectors.json ("sealing"), which the bus's domain/sealing.py generates. */
import { strict as assert } from "node:assert";
import { createDecipheriv, createPrivateKey, diffieHellman, createPublicKey, hkdfSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { test } from "node:test";
import { AgencyClient, PersonalDataUnavailable } from "../src/client";
import { canonicalJson, fromBase64url, JsonObject, privateKeyFromPem, Schemas, signEvent, signingBytes } from "../src/contract";
import {
  hasPersonal, keyRefForPublic, openSealed, PERSONAL_TEXT_FIELDS, personalPart, sealEvent, SealingError,
  vaultPublicKeyFromPem,
} from "../src/sealing";

const root = resolve(__dirname, "../../../..");
const vectors = JSON.parse(readFileSync(resolve(root, "sdks/test-vectors/vectors.json"), "utf8"));
const sealing = vectors.sealing;
const schemasDir = process.env.REFERRAL_BUS_SCHEMAS_DIR ?? resolve(root, "schemas/avro");
const schemas = new Schemas(schemasDir);
const key = privateKeyFromPem(vectors.test_key.pkcs8_pem);
const hex = (text: string) => Buffer.from(text, "hex");
const vaultPublic = vaultPublicKeyFromPem(sealing.test_vault_key.public_key_pem);

/** What the vault does with a submission (a test-only re-implementation, to check random seals open). */
function vaultUnwrap(wrapped: Buffer, caseId: string, eventId: string): Buffer {
  const priv = createPrivateKey({ key: Buffer.concat([hex("302e020100300506032b656e04220420"), hex(sealing.test_vault_key.private_key_hex)]), format: "der", type: "pkcs8" });
  const eph = wrapped.subarray(0, 32);
  const shared = diffieHellman({ privateKey: priv, publicKey: createPublicKey({ key: Buffer.concat([hex("302a300506032b656e032100"), eph]), format: "der", type: "spki" }) });
  const kek = Buffer.from(hkdfSync("sha256", shared, Buffer.concat([eph, vaultPublic]), Buffer.from(sealing.wrap_label + "x25519"), 32));
  const aad = Buffer.from(sealing.wrap_label + JSON.stringify([sealing.scheme, caseId, eventId, sealing.vault_recipient, sealing.test_vault_key.key_ref]));
  const d = createDecipheriv("aes-256-gcm", kek, wrapped.subarray(32, 44));
  d.setAAD(aad);
  d.setAuthTag(wrapped.subarray(wrapped.length - 16));
  return Buffer.concat([d.update(wrapped.subarray(44, wrapped.length - 16)), d.final()]);
}

test("the SDK's table of personal text fields is the bus's", () => {
  assert.deepEqual({ ...PERSONAL_TEXT_FIELDS }, sealing.personal_text_fields);
});

test("the vault's key: raw public key from its PEM, and its key ref", () => {
  assert.equal(vaultPublic.toString("hex"), sealing.test_vault_key.public_key_hex);
  assert.equal(keyRefForPublic(vaultPublic), sealing.test_vault_key.key_ref);
});

for (const v of sealing.seal) {
  test(`seal vector ${v.name}: personal part, ciphertext, wrapped key, sealed event, signature, frame`, () => {
    const event = schemas.normalise(v.record, v.event as JsonObject);
    assert.deepEqual(event, v.event);
    assert.ok(hasPersonal(v.record, event));
    assert.equal(canonicalJson(personalPart(v.record, event)), v.personal_part_json);
    const fixed = { dataKey: hex(v.inputs.data_key_hex), nonce: hex(v.inputs.nonce_hex),
                    ephemeralPrivateKey: hex(v.inputs.ephemeral_private_key_hex), wrapNonce: hex(v.inputs.wrap_nonce_hex) };
    const sealed = schemas.normalise(v.record, sealEvent(v.record, event, vaultPublic, fixed));
    const s = sealed.sealed as JsonObject;
    assert.equal(fromBase64url(String(s.ciphertext)).toString("hex"), v.ciphertext_hex);
    assert.equal(fromBase64url(String(s.wrapped_key)).toString("hex"), v.wrapped_key_hex);
    assert.equal(fromBase64url(String(s.wrapped_key)).subarray(0, 32).toString("hex"), v.ephemeral_public_key_hex);
    assert.deepEqual(sealed, v.sealed_event);
    assert.ok(!JSON.stringify(sealed).includes("Aigerim") && !JSON.stringify(sealed).includes("Invented reason"));
    assert.equal(sealed.personal_data, null);
    for (const field of PERSONAL_TEXT_FIELDS[v.record] ?? []) assert.ok([null, sealing.sealed_marker].includes(sealed[field] as any));
    assert.equal(signingBytes(sealed).toString("hex"), v.signed.signing_bytes_hex);
    const signed = signEvent(sealed, v.signed.key_id, key);
    assert.deepEqual(signed, v.signed.signed_event);
    assert.equal(schemas.encode(v.record, signed).toString("hex"), v.signed.framed_hex);
    // sealing twice does nothing; and a random seal opens at the vault with the same personal part
    assert.deepEqual(sealEvent(v.record, sealed, vaultPublic), sealed);
    const random = sealEvent(v.record, event, vaultPublic);
    const rs = random.sealed as JsonObject;
    assert.notEqual(rs.ciphertext, s.ciphertext);
    const env = event.envelope as JsonObject;
    const dataKey = vaultUnwrap(fromBase64url(String(rs.wrapped_key)), String(env.case_id), String(env.event_id));
    assert.deepEqual(schemas.normalise(v.record, openSealed(v.record, random, dataKey)), event);
  });
}

test("the wrapping is outside the signature: a copy re-wrapped by the router still verifies", () => {
  const v = sealing.seal[0];
  const rewrapped = structuredClone(v.signed.signed_event);
  Object.assign(rewrapped.sealed, { recipient: "cam-almaty", key_ref: "case:00c0ffee00c0ffee", wrapped_key: "AAAA" });
  assert.equal(signingBytes(rewrapped).toString("hex"), v.signed.signing_bytes_hex);
  const altered = structuredClone(v.signed.signed_event);
  altered.sealed.nonce = "AAAAAAAAAAAAAAAA";
  assert.notEqual(signingBytes(altered).toString("hex"), v.signed.signing_bytes_hex);
});

for (const v of sealing.open) {
  test(`open vector ${v.name}: the inbox copy opens with the key service's data key, and only so`, async () => {
    const unwrapped: object[] = [];
    const client = new AgencyClient({ agencyId: v.agency, actorId: "t", bootstrapServers: ["localhost:9"], security: { mode: "plaintext" }, schemasDir },
      async (request) => {
        unwrapped.push(request);
        return hex(v.data_key_hex);
      });
    const opened = await client.openPersonalData({ record: v.record, value: v.inbox_copy }, "case work");
    assert.deepEqual(opened, v.opened_event);
    assert.deepEqual(unwrapped, [{ ...v.unwrap_request, purpose: "case work" }]);
    // another agency's copy is not asked for; a wrong key, an altered ciphertext or a moved one do not open
    const other = new AgencyClient({ agencyId: "school-almaty", actorId: "t", bootstrapServers: ["localhost:9"], security: { mode: "plaintext" }, schemasDir },
      async () => hex(v.data_key_hex));
    await assert.rejects(other.openPersonalData({ record: v.record, value: v.inbox_copy }, "x"),
      (e: unknown) => e instanceof PersonalDataUnavailable && e.code === "NOT_SEALED_FOR_US");
    assert.throws(() => openSealed(v.record, v.inbox_copy, Buffer.alloc(32)), SealingError);
    const altered = structuredClone(v.inbox_copy);
    const ct = fromBase64url(altered.sealed.ciphertext);
    ct[0] ^= 1;
    altered.sealed.ciphertext = ct.toString("base64").replace(/\+/g, "-").replace(/\//g, "_");
    assert.throws(() => openSealed(v.record, altered, hex(v.data_key_hex)), /sealed\.ciphertext: does not open/);
    const moved = structuredClone(v.inbox_copy);
    moved.envelope.case_id = "KZ-ALA-999999";
    assert.throws(() => openSealed(v.record, moved, hex(v.data_key_hex)), /moved from another event/);
    const refused = new AgencyClient({ agencyId: v.agency, actorId: "t", bootstrapServers: ["localhost:9"], security: { mode: "plaintext" }, schemasDir });
    await assert.rejects(refused.openPersonalData({ record: v.record, value: v.inbox_copy }, "x"),
      (e: unknown) => e instanceof PersonalDataUnavailable && e.code === "GATEWAY_UNREACHABLE");
  });
}
