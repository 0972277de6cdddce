/**
 * Sealed personal data (docs/contract.md "Sealed personal data", docs/security.md): an event's
 * personal part — `personal_data` and its personal free-text fields — leaves the agency only as
 * AES-256-GCM ciphertext under a fresh data key, and the data key only wrapped to the key vault's
 * X25519 ingress public key (ephemeral X25519, HKDF-SHA256, AES-256-GCM). A secured bus refuses an
 * event whose personal part is in clear (PERSONAL_DATA_NOT_SEALED). An inbox copy sealed for this
 * agency is opened with the data key the gateway's key service unwraps (`POST /v1/keys/unwrap`, an
 * audited read). Everything here is node:crypto and is checked byte for byte against
 * sdks/test-vectors/vectors.json ("sealing"), which the bus's own domain/sealing.py generates.
 */
import {
  createCipheriv, createDecipheriv, createHash, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync,
  hkdfSync, KeyObject, randomBytes,
} from "node:crypto";
import { base64url, canonicalJson, ContractError, fromBase64url, Json, JsonObject } from "./contract";

export const SCHEME = "rb-seal-v1";
/** The recipient of a submission's wrapped key: the key vault's ingress key. */
export const VAULT = "rb-vault";
/** What a personal text reads in the sealed form (the record's own rules still hold). */
export const SEALED_MARKER = "[sealed]";
const WRAP_LABEL = "referral-bus sealed data key v1\n";
const DATA_LABEL = "referral-bus sealed personal data v1\n";
const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** DER prefixes of an X25519 key (RFC 8410): PKCS#8 private, SubjectPublicKeyInfo public. */
const X25519_PKCS8 = Buffer.from("302e020100300506032b656e04220420", "hex");
const X25519_SPKI = Buffer.from("302a300506032b656e032100", "hex");

/**
 * The fields of each event type that are personal free text, sealed with `personal_data`. The Avro
 * schemas do not mark them; the bus publishes them in the test vectors ("personal_text_fields"),
 * which this SDK's tests compare with this table, so a change on the bus fails them.
 */
export const PERSONAL_TEXT_FIELDS: Readonly<Record<string, readonly string[]>> = {
  CaseTransferredAbroad: ["receiving_authority"],
  ChildLeftCare: ["after_care_authority"],
  FollowUpRecorded: ["reason"],
  IndependentSupporterAssigned: ["supporter_organisation"],
  NGODecision: ["reasons"],
  ReferralMade: ["referring_body"],
  ReviewRecommendationsRejected: ["reasons"],
  ServiceProgressReported: ["service"],
  ServiceRequested: ["service"],
  SpecialSocialServicesReviewed: ["reason"],
  TemporaryCareDecided: ["siblings_separation_reason"],
};

/** A sealed part that does not open: which check failed, never anything of the content. */
export class SealingError extends Error {}

/** Fixed ephemeral key and nonces: only for the test vectors (a real seal draws them at random). */
export interface FixedInputs {
  dataKey: Buffer;
  nonce: Buffer;
  ephemeralPrivateKey: Buffer;
  wrapNonce: Buffer;
}

/** The raw 32-byte X25519 public key from the vault's PEM (REFERRAL_BUS_VAULT_PUBLIC_KEY_FILE). */
export function vaultPublicKeyFromPem(pem: string): Buffer {
  const key = createPublicKey(pem);
  if (key.asymmetricKeyType !== "x25519") throw new ContractError("the vault's public key is not an X25519 key");
  return rawX25519(key);
}

function rawX25519(key: KeyObject): Buffer {
  const der = (key.type === "private" ? createPublicKey(key) : key).export({ format: "der", type: "spki" });
  return der.subarray(X25519_SPKI.length);
}

function x25519Private(raw: Buffer): KeyObject {
  return createPrivateKey({ key: Buffer.concat([X25519_PKCS8, raw]), format: "der", type: "pkcs8" });
}

function x25519Public(raw: Buffer): KeyObject {
  if (raw.length !== KEY_BYTES) throw new SealingError("an X25519 public key is 32 bytes");
  return createPublicKey({ key: Buffer.concat([X25519_SPKI, raw]), format: "der", type: "spki" });
}

/** `vault:<first 16 hex of SHA-256 of the raw public key>`: which ingress key wrapped the data key. */
export function keyRefForPublic(publicKey: Buffer): string {
  return `vault:${createHash("sha256").update(publicKey).digest("hex").slice(0, 16)}`;
}

function textFields(record: string): readonly string[] {
  return PERSONAL_TEXT_FIELDS[record] ?? [];
}

/** Whether `event` carries a personal part in clear: `personal_data`, or a personal text that holds something. */
export function hasPersonal(record: string, event: JsonObject): boolean {
  if (event.personal_data !== null && event.personal_data !== undefined) return true;
  return textFields(record).some((name) => {
    const value = event[name];
    return Array.isArray(value) ? value.some((v) => v !== null) : value !== null && value !== undefined;
  });
}

/** What is sealed: `{"personal_data": …, "texts": {field: value}}` (texts that hold something, by name). */
export function personalPart(record: string, event: JsonObject): JsonObject {
  const texts: JsonObject = {};
  for (const name of [...textFields(record)].sort()) {
    const value = event[name];
    if (value !== null && value !== undefined && !(Array.isArray(value) && value.length === 0)) texts[name] = value;
  }
  return { personal_data: event.personal_data ?? null, texts };
}

function dataAad(event: JsonObject): Buffer {
  const env = event.envelope as JsonObject;
  return Buffer.from(DATA_LABEL + canonicalJson([SCHEME, env.case_id, env.event_id, env.event_type]), "utf8");
}

function wrapAad(caseId: string, eventId: string, recipient: string, keyRef: string): Buffer {
  return Buffer.from(WRAP_LABEL + canonicalJson([SCHEME, caseId, eventId, recipient, keyRef]), "utf8");
}

function aesGcmEncrypt(key: Buffer, nonce: Buffer, plain: Buffer, aad: Buffer): Buffer {
  const cipher = createCipheriv("aes-256-gcm", key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  return Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
}

function aesGcmDecrypt(key: Buffer, nonce: Buffer, sealed: Buffer, aad: Buffer): Buffer {
  if (sealed.length < TAG_BYTES || nonce.length !== NONCE_BYTES) throw new Error("too short");
  const decipher = createDecipheriv("aes-256-gcm", key, nonce, { authTagLength: TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES)), decipher.final()]);
}

/** The key-encryption key: HKDF-SHA256(shared secret, salt = ephemeral public | recipient public, info = label "x25519"). */
function kek(shared: Buffer, ephemeralPublic: Buffer, recipientPublic: Buffer): Buffer {
  const info = Buffer.from(WRAP_LABEL + "x25519", "utf8");
  return Buffer.from(hkdfSync("sha256", shared, Buffer.concat([ephemeralPublic, recipientPublic]), info, KEY_BYTES));
}

/** The data key wrapped to an X25519 public key: ephemeral public key (32) | nonce (12) | AES-256-GCM (48). */
export function wrapToPublic(dataKey: Buffer, publicKey: Buffer, caseId: string, eventId: string, keyRef: string,
                             fixed?: { ephemeralPrivateKey: Buffer; wrapNonce: Buffer }): Buffer {
  const ephemeral = fixed ? x25519Private(fixed.ephemeralPrivateKey) : generateKeyPairSync("x25519").privateKey;
  const ephemeralPublic = rawX25519(ephemeral);
  const shared = diffieHellman({ privateKey: ephemeral, publicKey: x25519Public(publicKey) });
  const nonce = fixed ? fixed.wrapNonce : randomBytes(NONCE_BYTES);
  const body = aesGcmEncrypt(kek(shared, ephemeralPublic, publicKey), nonce, dataKey,
                             wrapAad(caseId, eventId, VAULT, keyRef));
  return Buffer.concat([ephemeralPublic, nonce, body]);
}

/**
 * The sealed form of `event` (normalised, unsigned): personal part encrypted under a fresh data key
 * wrapped to the vault's ingress key, `personal_data` null, personal texts `[sealed]`. An event
 * without a personal part, or one already sealed, is returned as it is.
 */
export function sealEvent(record: string, event: JsonObject, vaultPublicKey: Buffer, fixed?: FixedInputs): JsonObject {
  if (event.sealed !== null && event.sealed !== undefined) return event;
  if (!hasPersonal(record, event)) return event;
  const env = event.envelope as JsonObject;
  const dataKey = fixed ? fixed.dataKey : randomBytes(KEY_BYTES);
  const nonce = fixed ? fixed.nonce : randomBytes(NONCE_BYTES);
  const keyRef = keyRefForPublic(vaultPublicKey);
  const wrapped = wrapToPublic(dataKey, vaultPublicKey, String(env.case_id), String(env.event_id), keyRef, fixed);
  const plain = Buffer.from(canonicalJson(personalPart(record, event)), "utf8");
  const ciphertext = aesGcmEncrypt(dataKey, nonce, plain, dataAad(event));
  const out: JsonObject = { ...event, personal_data: null };
  for (const name of textFields(record)) {
    const value = event[name];
    if (Array.isArray(value)) out[name] = value.map(() => SEALED_MARKER);
    else if (value !== null && value !== undefined) out[name] = SEALED_MARKER;
  }
  out.sealed = { scheme: SCHEME, key_ref: keyRef, recipient: VAULT, wrapped_key: base64url(wrapped),
                 nonce: base64url(nonce), ciphertext: base64url(ciphertext) };
  return out;
}

/**
 * The event with its personal part decrypted back in place and `sealed` null, given the copy's data
 * key (from the key service). `SealingError` when the ciphertext, nonce or bound ids were altered or
 * the part names a field that is not a personal text of the record. The caller normalises the result
 * (the schema checks the fields' types).
 */
export function openSealed(record: string, event: JsonObject, dataKey: Buffer): JsonObject {
  const sealed = event.sealed as JsonObject | null | undefined;
  if (!sealed) return event;
  if (sealed.scheme !== SCHEME) throw new SealingError(`sealed.scheme: ${JSON.stringify(sealed.scheme)} is not a known scheme (${SCHEME})`);
  let plain: Buffer;
  try {
    plain = aesGcmDecrypt(dataKey, fromBase64url(String(sealed.nonce)), fromBase64url(String(sealed.ciphertext)), dataAad(event));
  } catch {
    throw new SealingError("sealed.ciphertext: does not open with its data key for this case, event and type (altered, or moved from another event)");
  }
  let part: { personal_data?: Json; texts?: JsonObject };
  try {
    part = JSON.parse(plain.toString("utf8"));
  } catch {
    throw new SealingError("sealed.ciphertext: opens, but is not a sealed personal part");
  }
  if (!part || typeof part.texts !== "object" || part.texts === null || Array.isArray(part.texts) || !("personal_data" in part)) {
    throw new SealingError("sealed.ciphertext: opens, but is not a sealed personal part");
  }
  const allowed = new Set(textFields(record));
  for (const name of Object.keys(part.texts)) {
    if (!allowed.has(name)) throw new SealingError(`sealed.ciphertext: names a field that is not a personal text of ${record}`);
  }
  return { ...event, ...part.texts, personal_data: part.personal_data ?? null, sealed: null };
}
