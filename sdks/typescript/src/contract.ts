/**
 * The referral bus's wire contract (docs/contract.md), without Kafka: schemas and their ids, the
 * Confluent framing, JSON <-> Avro, the canonical JSON that is hashed and signed, the Ed25519
 * signature field, and Kafka's murmur2 partitioner. Everything here is checked byte for byte
 * against sdks/test-vectors/vectors.json, which the bus's own Python code generates.
 */
import { createHash, createPrivateKey, createPublicKey, KeyObject, sign as edSign, verify as edVerify } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import * as avro from "avsc";

export const NAMESPACE = "kz.referralbus";
export const SIGNATURE_LABEL = "referral-bus event signature v1\n";
export const GENESIS = "0".repeat(64);
const SIGNATURE_FORMAT = 1;
/** The envelope fields the router fills: blank in what the producer signs. */
const ROUTER_FIELDS = ["recorded_at", "sequence", "previous_hash", "hash", "signature"];

export class ContractError extends Error {}

/** A JSON value in the bus's canonical JSON shape (pydantic's JSON-mode dump). */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

interface Loaded {
  id: number;
  schema: any; // the .avsc document
  type: avro.Type;
  names: Map<string, any>; // full name -> named schema, for references such as "kz.referralbus.City"
}

/**
 * Every record's schema from a schemas directory (schemas/avro: the current `<Record>.avsc`, and
 * every released `versions/<Record>/vN.avsc`, so a record written with an older version is read).
 * The id is derived as the bus does: SHA-256 of the Parsing Canonical Form, first 4 bytes, top bit
 * cleared (avsc's `getFingerprint('sha256')` is over that form).
 */
export class Schemas {
  private readonly current = new Map<string, Loaded>();
  private readonly byId = new Map<number, Loaded>();
  private readonly released = new Map<string, number>();

  constructor(readonly dir: string) {
    for (const file of readdirSync(dir).filter((f) => f.endsWith(".avsc"))) {
      const loaded = load(join(dir, file));
      this.current.set(loaded.schema.name, loaded);
      this.byId.set(loaded.id, loaded);
    }
    const versions = join(dir, "versions");
    if (existsDir(versions)) {
      for (const record of readdirSync(versions)) {
        const files = readdirSync(join(versions, record)).filter((f) => f.endsWith(".avsc"));
        this.released.set(record, files.length);
        for (const file of files) {
          const loaded = load(join(versions, record, file));
          if (!this.byId.has(loaded.id)) this.byId.set(loaded.id, loaded);
        }
      }
    }
    if (this.current.size === 0) throw new ContractError(`no .avsc schema in ${dir}`);
  }

  /** The id of the current schema of `record` (what a writer puts in bytes 1-4). */
  id(record: string): number {
    return this.of(record).id;
  }

  /** The released version number of the current schema (envelope.schema_version): 1 when never frozen. */
  version(record: string): number {
    return Math.max(1, this.released.get(record) ?? 0);
  }

  of(record: string): Loaded {
    const loaded = this.current.get(record);
    if (!loaded) throw new ContractError(`record ${record} is not in the contract (${this.dir})`);
    return loaded;
  }

  /** `value` (canonical JSON shape) in the Confluent framing, written with the current schema. */
  encode(record: string, value: JsonObject): Buffer {
    const loaded = this.of(record);
    const body = loaded.type.toBuffer(toAvro(loaded.schema, value, loaded.names, record));
    const header = Buffer.alloc(5);
    header.writeUInt8(0, 0);
    header.writeUInt32BE(loaded.id, 1);
    return Buffer.concat([header, body]);
  }

  /** A frame back to (record name, canonical JSON value), read with the current schema. */
  decode(frame: Buffer): { record: string; value: JsonObject } {
    if (frame.length < 5) throw new ContractError(`UNDECODABLE: ${frame.length} bytes is shorter than the 5-byte header`);
    if (frame[0] !== 0) throw new ContractError(`BAD_MAGIC_BYTE: magic byte is ${frame[0]}, expected 0`);
    const id = frame.readUInt32BE(1);
    const writer = this.byId.get(id);
    if (!writer) throw new ContractError(`UNKNOWN_SCHEMA_ID: schema id ${id} is not in ${this.dir}`);
    const name = String(writer.schema.name);
    const reader = this.of(name);
    const datum = writer.id === reader.id
      ? reader.type.fromBuffer(frame.subarray(5))
      : reader.type.fromBuffer(frame.subarray(5), reader.type.createResolver(writer.type));
    return { record: name, value: fromAvro(reader.schema, datum, reader.names) as JsonObject };
  }

  /**
   * `value` as the bus sees it after an Avro round trip: defaults filled in, times in UTC. The
   * canonical JSON of this is what is hashed and signed.
   */
  normalise(record: string, value: JsonObject): JsonObject {
    const loaded = this.of(record);
    return fromAvro(loaded.schema, toAvro(loaded.schema, value, loaded.names, record), loaded.names) as JsonObject;
  }
}

function existsDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function load(path: string): Loaded {
  const schema = JSON.parse(readFileSync(path, "utf8"));
  const type = avro.Type.forSchema(schema, { wrapUnions: false });
  const id = type.fingerprint("sha256").readUInt32BE(0) & 0x7fffffff;
  const names = new Map<string, any>();
  collectNames(schema, schema.namespace ?? "", names);
  return { id, schema, type, names };
}

function fullName(name: string, namespace: string): string {
  return name.includes(".") || !namespace ? name : `${namespace}.${name}`;
}

function collectNames(schema: any, namespace: string, names: Map<string, any>): void {
  if (Array.isArray(schema)) {
    schema.forEach((s) => collectNames(s, namespace, names));
  } else if (schema && typeof schema === "object") {
    if (["record", "enum", "fixed"].includes(schema.type)) {
      const ns = schema.namespace ?? namespace;
      names.set(fullName(schema.name, ns), schema);
      if (schema.type === "record") schema.fields.forEach((f: any) => collectNames(f.type, ns, names));
    } else if (schema.type === "array") {
      collectNames(schema.items, namespace, names);
    } else if (typeof schema.type === "object") {
      collectNames(schema.type, namespace, names);
    }
  }
}

function resolve(schema: any, names: Map<string, any>): any {
  if (typeof schema === "string" && !PRIMITIVES.has(schema)) {
    const named = names.get(schema) ?? names.get(fullName(schema, NAMESPACE));
    if (!named) throw new ContractError(`unknown named type ${schema}`);
    return named;
  }
  if (schema && typeof schema === "object" && !Array.isArray(schema) && typeof schema.type === "object") {
    return schema.type;
  }
  return schema;
}

const PRIMITIVES = new Set(["null", "boolean", "int", "long", "float", "double", "bytes", "string"]);
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(Z|[+-]\d{2}:\d{2})$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** ISO-8601 with an offset (or Z), at most microseconds -> microseconds since the epoch. */
export function parseTimestamp(text: string, field = "timestamp"): number {
  const m = TIMESTAMP.exec(text);
  if (!m) throw new ContractError(`${field}: ${JSON.stringify(text)} is not an ISO-8601 time with an offset (at most microseconds)`);
  const [, y, mo, d, h, mi, s, frac = "", zone] = m;
  let micros = Date.UTC(+y, +mo - 1, +d, +h, +mi, +s) * 1000 + Number(frac.padEnd(6, "0") || "0");
  if (zone !== "Z") {
    const sign = zone[0] === "-" ? -1 : 1;
    micros -= sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000_000;
  }
  return micros;
}

/** Microseconds since the epoch -> pydantic's rendering: UTC, `Z`, 6 fraction digits or none. */
export function formatTimestamp(micros: number): string {
  const ms = Math.floor(micros / 1000);
  const sub = ((micros % 1_000_000) + 1_000_000) % 1_000_000;
  const base = new Date(ms).toISOString().slice(0, 19);
  return sub === 0 ? `${base}Z` : `${base}.${String(sub).padStart(6, "0")}Z`;
}

export function parseDate(text: string, field = "date"): number {
  const m = DATE.exec(text);
  if (!m) throw new ContractError(`${field}: ${JSON.stringify(text)} is not a date YYYY-MM-DD`);
  return Date.UTC(+m[1], +m[2] - 1, +m[3]) / 86_400_000;
}

export function formatDate(days: number): string {
  return new Date(days * 86_400_000).toISOString().slice(0, 10);
}

/** pydantic's `ser_json_bytes="base64"`: URL-safe alphabet, with `=` padding. */
export function base64url(bytes: Buffer): string {
  return bytes.toString("base64").replace(/\+/g, "-").replace(/\//g, "_");
}

export function fromBase64url(text: string): Buffer {
  return Buffer.from(text.replace(/-/g, "+").replace(/_/g, "/"), "base64");
}

function toAvro(schema: any, value: any, names: Map<string, any>, path: string): any {
  schema = resolve(schema, names);
  if (Array.isArray(schema)) {
    if (value === null || value === undefined) {
      if (!schema.includes("null")) throw new ContractError(`${path}: may not be null`);
      return null;
    }
    const branches = schema.filter((s: any) => s !== "null");
    if (branches.length !== 1) throw new ContractError(`${path}: unions of several non-null types are not in the contract`);
    return toAvro(branches[0], value, names, path);
  }
  const type = typeof schema === "string" ? schema : schema.type;
  const logical = typeof schema === "object" ? schema.logicalType : undefined;
  const want = (ok: boolean, what: string) => {
    if (!ok) throw new ContractError(`${path}: expected ${what}, got ${JSON.stringify(value)}`);
  };
  switch (type) {
    case "null":
      want(value === null, "null");
      return null;
    case "boolean":
      want(typeof value === "boolean", "a boolean");
      return value;
    case "string":
      if (logical === "uuid") {
        // the bus reads a UUID and renders it lowercase: sign and send that form
        want(typeof value === "string" && UUID.test(value), "a UUID 8-4-4-4-12 hex");
        return value.toLowerCase();
      }
      want(typeof value === "string", "a string");
      return value;
    case "int":
    case "long":
      if (logical === "timestamp-micros") {
        want(typeof value === "string", "an ISO-8601 time");
        return parseTimestamp(value, path);
      }
      if (logical === "date") {
        want(typeof value === "string", "a date YYYY-MM-DD");
        return parseDate(value, path);
      }
      want(Number.isSafeInteger(value), "an integer");
      return value;
    case "bytes":
      want(typeof value === "string", "URL-safe base64");
      return fromBase64url(value);
    case "enum":
      want(typeof value === "string" && schema.symbols.includes(value), `one of ${schema.symbols.join(", ")}`);
      return value;
    case "array":
      want(Array.isArray(value), "an array");
      return value.map((item: any, i: number) => toAvro(schema.items, item, names, `${path}[${i}]`));
    case "record": {
      want(value !== null && typeof value === "object" && !Array.isArray(value), "an object");
      const known = new Set(schema.fields.map((f: any) => f.name));
      for (const key of Object.keys(value)) {
        if (!known.has(key)) throw new ContractError(`${path}.${key}: not a field of ${schema.name}`);
      }
      const out: Record<string, any> = {};
      for (const field of schema.fields) {
        let v = value[field.name];
        if (v === undefined) {
          if (!("default" in field)) throw new ContractError(`${path}.${field.name}: required`);
          v = field.default; // Avro JSON defaults of this contract are null, false, [] or a plain value
        }
        out[field.name] = toAvro(field.type, v, names, `${path}.${field.name}`);
      }
      return out;
    }
    default:
      throw new ContractError(`${path}: Avro type ${type} is not in the contract`);
  }
}

function fromAvro(schema: any, datum: any, names: Map<string, any>): Json {
  schema = resolve(schema, names);
  if (Array.isArray(schema)) {
    if (datum === null || datum === undefined) return null;
    return fromAvro(schema.find((s: any) => s !== "null"), datum, names);
  }
  const type = typeof schema === "string" ? schema : schema.type;
  const logical = typeof schema === "object" ? schema.logicalType : undefined;
  switch (type) {
    case "int":
    case "long":
      if (logical === "timestamp-micros") return formatTimestamp(datum);
      if (logical === "date") return formatDate(datum);
      return datum;
    case "bytes":
      return base64url(datum);
    case "array":
      return datum.map((item: any) => fromAvro(schema.items, item, names));
    case "record": {
      const out: JsonObject = {};
      for (const field of schema.fields) out[field.name] = fromAvro(field.type, datum[field.name], names);
      return out;
    }
    default:
      return datum;
  }
}

/**
 * The canonical JSON text: keys sorted (by code point), no whitespace, non-ASCII as UTF-8 (not
 * escaped), strings escaped as JSON.stringify does — which is what Python's
 * `json.dumps(..., sort_keys=True, separators=(",", ":"), ensure_ascii=False)` writes.
 */
export function canonicalJson(value: Json): string {
  if (value === null || typeof value !== "object") {
    if (typeof value === "number" && !Number.isSafeInteger(value)) {
      throw new ContractError(`canonical JSON holds integers only, not ${value}`);
    }
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const keys = Object.keys(value).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(",")}}`;
}

function withEnvelope(event: JsonObject, blank: string[]): JsonObject {
  const envelope = { ...(event.envelope as JsonObject) };
  for (const field of blank) envelope[field] = null;
  return { ...event, envelope };
}

/**
 * What a producer signs: the label, then the canonical JSON with the router's fields and the
 * signature blank — and, in sealed personal data, the wrapping blank (`wrapped_key`, `key_ref`,
 * `recipient`), which the router changes for every copy; scheme, nonce and ciphertext are signed.
 */
export function signingBytes(event: JsonObject): Buffer {
  const body = withEnvelope(event, ROUTER_FIELDS);
  if (body.sealed !== null && body.sealed !== undefined) {
    body.sealed = { ...(body.sealed as JsonObject), wrapped_key: null, key_ref: null, recipient: null };
  }
  return Buffer.from(SIGNATURE_LABEL + canonicalJson(body), "utf8");
}

/** The chain hash: SHA-256 hex of previous hash (hex text) then the canonical JSON with `hash` blank. */
export function chainHash(previousHash: string, event: JsonObject): string {
  return createHash("sha256").update(previousHash + canonicalJson(withEnvelope(event, ["hash"])), "utf8").digest("hex");
}

export function keyIdFor(agencyId: string, publicKey: Buffer): string {
  return `${agencyId}:${createHash("sha256").update(publicKey).digest("hex").slice(0, 16)}`;
}

export function rawPublicKey(key: KeyObject): Buffer {
  const publicKey = key.type === "private" ? createPublicKey(key) : key;
  return Buffer.from(publicKey.export({ format: "jwk" }).x as string, "base64url");
}

/** envelope.signature: 0x01, key id length, key id (ASCII), the 64-byte Ed25519 signature. */
export function packSignature(keyId: string, signature: Buffer): Buffer {
  const id = Buffer.from(keyId, "ascii");
  if (signature.length !== 64) throw new ContractError("an Ed25519 signature is 64 bytes");
  return Buffer.concat([Buffer.from([SIGNATURE_FORMAT, id.length]), id, signature]);
}

export function unpackSignature(field: Buffer): { keyId: string; signature: Buffer } {
  if (field.length < 2 || field[0] !== SIGNATURE_FORMAT) throw new ContractError("envelope.signature must start with format version 1");
  const size = field[1];
  const keyId = field.subarray(2, 2 + size).toString("ascii");
  const signature = field.subarray(2 + size);
  if (keyId.length !== size || signature.length !== 64) throw new ContractError("envelope.signature must hold a key id and a 64-byte signature");
  return { keyId, signature };
}

/** An Ed25519 private key from a PKCS#8 PEM file's text (the bus's key store format). */
export function privateKeyFromPem(pem: string): KeyObject {
  const key = createPrivateKey(pem);
  if (key.asymmetricKeyType !== "ed25519") throw new ContractError("the signing key is not an Ed25519 key");
  return key;
}

/** `event` (normalised) with envelope.signature set by `keyId` / `key`. */
export function signEvent(event: JsonObject, keyId: string, key: KeyObject): JsonObject {
  const signature = edSign(null, signingBytes(event), key);
  const envelope = { ...(event.envelope as JsonObject), signature: base64url(packSignature(keyId, signature)) };
  return { ...event, envelope };
}

export function verifyEvent(event: JsonObject, publicKey: KeyObject): boolean {
  const field = (event.envelope as JsonObject).signature;
  if (typeof field !== "string") return false;
  return edVerify(null, signingBytes(event), publicKey, unpackSignature(fromBase64url(field)).signature);
}

/** Kafka's murmur2 (the Java client's, seed 0x9747b28c) over the key bytes. */
export function murmur2(data: Buffer): number {
  const m = 0x5bd1e995;
  const r = 24;
  const length = data.length;
  let h = (0x9747b28c ^ length) | 0;
  const len4 = length >> 2;
  for (let i = 0; i < len4; i++) {
    const i4 = i * 4;
    let k = data[i4] | (data[i4 + 1] << 8) | (data[i4 + 2] << 16) | (data[i4 + 3] << 24);
    k = Math.imul(k, m);
    k ^= k >>> r;
    k = Math.imul(k, m);
    h = Math.imul(h, m);
    h ^= k;
  }
  const tail = len4 * 4;
  switch (length & 3) {
    case 3:
      h ^= data[tail + 2] << 16;
    // falls through
    case 2:
      h ^= data[tail + 1] << 8;
    // falls through
    case 1:
      h ^= data[tail];
      h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

/** The partition of a keyed record: (murmur2(key) & 0x7fffffff) % partitions. */
export function partitionFor(key: string, partitions: number): number {
  return (murmur2(Buffer.from(key, "utf8")) & 0x7fffffff) % partitions;
}
