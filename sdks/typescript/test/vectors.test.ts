/** Every vector of sdks/test-vectors/vectors.json, which the bus's own Python code generates. */
import { strict as assert } from "node:assert";
import { createPublicKey, sign as edSign } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { test } from "node:test";
import { Partitioners } from "kafkajs";
import {
  canonicalJson, chainHash, fromBase64url, JsonObject, keyIdFor, packSignature, partitionFor, privateKeyFromPem,
  rawPublicKey, Schemas, signEvent, signingBytes, unpackSignature, verifyEvent,
} from "../src/contract";

const root = resolve(__dirname, "../../../..");
const vectors = JSON.parse(readFileSync(resolve(root, "sdks/test-vectors/vectors.json"), "utf8"));
const schemas = new Schemas(process.env.REFERRAL_BUS_SCHEMAS_DIR ?? resolve(root, "schemas/avro"));
const key = privateKeyFromPem(vectors.test_key.pkcs8_pem);

test("the test key's public half and seed", () => {
  assert.equal(rawPublicKey(key).toString("hex"), vectors.test_key.public_key_hex);
  const jwk = key.export({ format: "jwk" });
  assert.equal(Buffer.from(jwk.d as string, "base64url").toString("hex"), vectors.test_key.seed_hex);
});

for (const v of vectors.events) {
  test(`event vector ${v.name}: schema id, normal form, signing bytes, signature, frame, chain hash, partitions`, () => {
    assert.equal(schemas.id(v.record), v.schema_id);
    const normal = schemas.normalise(v.record, v.event as JsonObject);
    assert.deepEqual(normal, v.event);
    assert.equal(signingBytes(normal).toString("hex"), v.signing_bytes_hex);
    assert.equal(keyIdFor(v.event.envelope.producer.agency_id, rawPublicKey(key)), v.key_id);
    assert.equal(edSign(null, signingBytes(normal), key).toString("hex"), v.signature_hex);
    assert.equal(packSignature(v.key_id, Buffer.from(v.signature_hex, "hex")).toString("hex"), v.signature_field_hex);
    const signed = signEvent(normal, v.key_id, key);
    assert.deepEqual(signed, v.signed_event);
    assert.equal(unpackSignature(fromBase64url(v.signed_event.envelope.signature)).keyId, v.key_id);
    assert.ok(verifyEvent(signed, createPublicKey(key)));
    assert.equal(schemas.encode(v.record, signed).toString("hex"), v.framed_hex);
    const decoded = schemas.decode(Buffer.from(v.framed_hex, "hex"));
    assert.equal(decoded.record, v.record);
    assert.deepEqual(decoded.value, v.signed_event);
    // the router's stamped copy: decode it, check its canonical form and chain hash
    const stamped = schemas.decode(Buffer.from(v.stamped.framed_hex, "hex")).value;
    const env = stamped.envelope as JsonObject;
    assert.equal(env.recorded_at, v.stamped.recorded_at);
    assert.equal(env.previous_hash, v.stamped.previous_hash);
    assert.equal(canonicalJson({ ...stamped, envelope: { ...env, hash: null } }), v.stamped.canonical_json);
    assert.equal(chainHash(v.stamped.previous_hash, stamped), v.stamped.hash);
    assert.ok(verifyEvent(stamped, createPublicKey(key)), "the router's fields are outside the signature");
    for (const [count, partition] of Object.entries(v.partitions)) {
      assert.equal(partitionFor(v.key, Number(count)), partition);
    }
  });
}

for (const v of vectors.records) {
  test(`record vector ${v.name}: frame and canonical JSON`, () => {
    assert.equal(schemas.id(v.record), v.schema_id);
    assert.equal(schemas.encode(v.record, v.json).toString("hex"), v.framed_hex);
    assert.deepEqual(schemas.decode(Buffer.from(v.framed_hex, "hex")).value, v.json);
    assert.equal(canonicalJson(schemas.normalise(v.record, v.json)), v.canonical_json);
  });
}

test("kafkajs's DefaultPartitioner is the bus's murmur2 (every vector key, 3 and 12 partitions)", () => {
  const partitioner = Partitioners.DefaultPartitioner();
  for (const v of [...vectors.events, ...vectors.records]) {
    for (const [count, partition] of Object.entries(v.partitions)) {
      const partitionMetadata = Array.from({ length: Number(count) }, (_, i) => ({ partitionId: i, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] }));
      assert.equal(partitioner({ topic: "t", partitionMetadata, message: { key: v.key, value: null } }), partition);
    }
  }
  // the contract's own examples (docs/contract.md)
  assert.deepEqual(["KZ-ALA-000123", "KZ-ALA-000124", "KZ-NUR-000001"].map((k) => partitionFor(k, 3)), [0, 2, 2]);
});

test("a time with an offset is signed as the bus decodes it: in UTC", () => {
  const v = vectors.events[0];
  const shifted = structuredClone(v.event);
  shifted.envelope.occurred_at = "2026-03-02T13:30:00+05:00";
  assert.equal(signingBytes(schemas.normalise(v.record, shifted)).toString("hex"), v.signing_bytes_hex);
});

test("a UUID in capitals is signed and sent as the bus renders it: lowercase", () => {
  const v = vectors.events[0];
  const shouted = structuredClone(v.event);
  shouted.envelope.event_id = v.event.envelope.event_id.toUpperCase();
  assert.equal(signingBytes(schemas.normalise(v.record, shouted)).toString("hex"), v.signing_bytes_hex);
});

test("a field the record lacks is refused, naming it", () => {
  const v = vectors.events[0];
  assert.throws(() => schemas.normalise(v.record, { ...v.event, colour: "red" }), /ReferralMade\.colour: not a field/);
});

test("a frame that is not one is refused with the contract's reason code", () => {
  const framed = Buffer.from(vectors.events[0].framed_hex, "hex");
  assert.throws(() => schemas.decode(framed.subarray(0, 4)), /^Error: UNDECODABLE/);
  assert.throws(() => schemas.decode(Buffer.concat([Buffer.from([1]), framed.subarray(1)])), /BAD_MAGIC_BYTE/);
  const unknown = Buffer.from(framed);
  unknown.writeUInt32BE(1, 1);
  assert.throws(() => schemas.decode(unknown), /UNKNOWN_SCHEMA_ID/);
});
