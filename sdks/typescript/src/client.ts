/**
 * An agency's connection to the bus on kafkajs: publish a signed event on `rb.ingress.<agency>`
 * keyed by case id (kafkajs's DefaultPartitioner is the Java client's murmur2, which the bus
 * requires: docs/contract.md), wait for its receipt on `rb.receipts.<agency>` (keyed
 * `<topic>:<partition>:<offset>`), and read `rb.inbox.<agency>` dropping repeats by `rb-delivery-id`.
 *
 * Personal data (docs/security.md): when the key vault's ingress public key is known
 * (REFERRAL_BUS_VAULT_PUBLIC_KEY_FILE), an event's personal part is sealed to it before signing
 * (./sealing.ts), as the Python SDK does; a secured bus refuses it in clear. An inbox copy sealed for
 * this agency is opened with `openPersonalData`: the gateway's key service unwraps the copy's data key
 * (REFERRAL_BUS_GATEWAY_URL, `POST /v1/keys/unwrap` as this agency; an audited read) and the SDK
 * decrypts here.
 */
import { randomUUID, KeyObject } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { join } from "node:path";
import { Admin, Consumer, Kafka, KafkaConfig, logLevel, Partitioners, Producer } from "kafkajs";
import { ContractError, JsonObject, privateKeyFromPem, Schemas, signEvent } from "./contract";
import { hasPersonal, openSealed, sealEvent, SealingError, vaultPublicKeyFromPem } from "./sealing";

export interface Security {
  /** "sasl_ssl" (SCRAM-SHA-512 over TLS, the secured bus) or "plaintext" (a local test broker). */
  mode: "sasl_ssl" | "plaintext";
  username?: string;
  password?: string;
  /** PEM file of the CA that signed the brokers' certificates. */
  caFile?: string;
}

export interface ClientOptions {
  agencyId: string;
  actorId: string;
  actorRole?: string;
  bootstrapServers: string[];
  security: Security;
  schemasDir: string;
  /** The agency's signing key: its id (`<agency>:<16 hex>`) and the PKCS#8 PEM of the private key. */
  signingKey?: { keyId: string; privateKey: KeyObject };
  topicPrefix?: string;
  /** PEM file of the key vault's X25519 ingress public key: personal data is sealed to it. */
  vaultPublicKeyFile?: string;
  /** The gateway (`https://…`) whose key service unwraps the data keys of this agency's inbox copies. */
  gatewayUrl?: string;
}

export interface Receipt extends JsonObject {}

export interface Delivery {
  record: string;
  value: JsonObject;
  deliveryId: string | null;
  paragraph: string | null;
  purpose: string | null;
  redacted: boolean;
  partition: number;
  offset: string;
}

export class PublishError extends Error {}

/**
 * An inbox copy's personal data could not be opened: `code` is the key service's (NOT_ENTITLED,
 * CASE_ERASED, UNKNOWN_CASE_KEY, BAD_WRAPPED_KEY, AUDIT_UNAVAILABLE, PURPOSE_REFUSED, …) or
 * NOT_SEALED_FOR_US / SEALED_DATA_INVALID / GATEWAY_UNREACHABLE from the SDK itself.
 */
export class PersonalDataUnavailable extends Error {
  constructor(readonly code: string, message: string) {
    super(`${code}: ${message}`);
  }
}

/** Unwraps a copy's data key (default: the gateway's `POST /v1/keys/unwrap`). */
export type Unwrap = (request: { case_id: string; event_id: string; recipient: string; wrapped_key: string;
                                 purpose: string }) => Promise<Buffer>;

/** The options a process gets from the same environment variables as the Python SDK (docs/security.md). */
export function optionsFromEnv(agencyId: string, actorId: string, schemasDir: string): ClientOptions {
  const env = process.env;
  const mode = (env.REFERRAL_BUS_KAFKA_SECURITY ?? "plaintext") as Security["mode"];
  const password = env.REFERRAL_BUS_KAFKA_PASSWORD_FILE
    ? readFileSync(env.REFERRAL_BUS_KAFKA_PASSWORD_FILE, "utf8").trim()
    : env.REFERRAL_BUS_KAFKA_PASSWORD;
  let signingKey: ClientOptions["signingKey"];
  if (env.REFERRAL_BUS_SIGNING_KEY_DIR) signingKey = loadSigningKey(env.REFERRAL_BUS_SIGNING_KEY_DIR, agencyId);
  return {
    agencyId, actorId, schemasDir, signingKey,
    bootstrapServers: (env.KAFKA_BOOTSTRAP_SERVERS ?? "localhost:9092").split(","),
    security: { mode, username: env.REFERRAL_BUS_KAFKA_USERNAME, password, caFile: env.REFERRAL_BUS_KAFKA_CA_FILE },
    topicPrefix: env.REFERRAL_BUS_TOPIC_PREFIX ?? "",
    vaultPublicKeyFile: env.REFERRAL_BUS_VAULT_PUBLIC_KEY_FILE || join(env.REFERRAL_BUS_DATA_DIR || ".referral-bus", "vault-public-key.pem"),
    gatewayUrl: env.REFERRAL_BUS_GATEWAY_URL || undefined,
  };
}

/** The key store layout the bus's tools write: `<dir>/<agency>/current` names `<16 hex>.pem`. */
export function loadSigningKey(dir: string, agencyId: string): { keyId: string; privateKey: KeyObject } {
  const keyId = readFileSync(join(dir, agencyId, "current"), "utf8").trim();
  const pem = readFileSync(join(dir, agencyId, `${keyId.split(":")[1]}.pem`), "utf8");
  return { keyId, privateKey: privateKeyFromPem(pem) };
}

export class AgencyClient {
  readonly schemas: Schemas;
  private readonly kafka: Kafka;
  private producer?: Producer;
  private readonly seen = new Set<string>();
  /** Coordinates and reason code of the most recent records that did not decode (skipped). */
  readonly unreadable: { topic: string; partition: number; offset: string; reason: string }[] = [];
  /** (mtime, raw key) of the vault's public key file, read again when it changes (a rotated key). */
  private vaultKey?: { mtimeMs: number; key: Buffer };
  /** How sealed inbox copies get their data key: the gateway unless given. */
  readonly unwrap: Unwrap;

  constructor(readonly options: ClientOptions, unwrap?: Unwrap) {
    this.unwrap = unwrap ?? ((request) => this.unwrapAtGateway(request));
    this.schemas = new Schemas(options.schemasDir);
    const config: KafkaConfig = {
      clientId: `sdk-ts-${options.agencyId}`,
      brokers: options.bootstrapServers,
      logLevel: logLevel.ERROR,
    };
    if (options.security.mode === "sasl_ssl") {
      const { username, password, caFile } = options.security;
      if (!username || !password || !caFile) throw new PublishError("sasl_ssl needs a username, a password and a CA file");
      config.ssl = { ca: [readFileSync(caFile, "utf8")], rejectUnauthorized: true };
      config.sasl = { mechanism: "scram-sha-512", username, password };
    }
    this.kafka = new Kafka(config);
  }

  topic(kind: "ingress" | "receipts" | "inbox"): string {
    return `${this.options.topicPrefix ?? ""}rb.${kind}.${this.options.agencyId}`;
  }

  /** A new event of `record` with a complete envelope (router fields empty); `fields` are the record's own. */
  event(record: string, caseId: string, fields: JsonObject, occurredAt: Date = new Date()): JsonObject {
    return {
      envelope: {
        event_id: randomUUID(), event_type: record, schema_version: this.schemas.version(record), case_id: caseId,
        occurred_at: occurredAt.toISOString(), recorded_at: null,
        producer: { agency_id: this.options.agencyId, actor_id: this.options.actorId, actor_role: this.options.actorRole ?? null },
        correlation_id: null, causation_id: null, sequence: null, previous_hash: null, hash: null, signature: null,
      },
      ...fields,
    };
  }

  /** The vault's ingress public key (raw 32 bytes), or undefined when its file is absent. */
  vaultPublicKey(): Buffer | undefined {
    const file = this.options.vaultPublicKeyFile;
    if (!file) return undefined;
    let mtimeMs: number;
    try {
      mtimeMs = statSync(file).mtimeMs;
    } catch {
      return undefined;
    }
    if (this.vaultKey?.mtimeMs !== mtimeMs) {
      try {
        this.vaultKey = { mtimeMs, key: vaultPublicKeyFromPem(readFileSync(file, "utf8")) };
      } catch (err) {
        throw new PublishError(`${file}: not the vault's X25519 public key (REFERRAL_BUS_VAULT_PUBLIC_KEY_FILE): ${(err as Error).message}`);
      }
    }
    return this.vaultKey.key;
  }

  /**
   * `event` (normalised) with its personal part sealed to the key vault when its public key is known;
   * as it is otherwise (nothing personal, or no vault key: the bus decides whether clear is allowed).
   */
  seal(record: string, event: JsonObject): JsonObject {
    if (!hasPersonal(record, event)) return event;
    const key = this.vaultPublicKey();
    return key ? this.schemas.normalise(record, sealEvent(record, event, key)) : event;
  }

  /** Normalise, seal, sign and frame `event`; the bytes to send. Refuses what the schema refuses, naming the field. */
  prepare(event: JsonObject): { key: string; value: Buffer } {
    const envelope = event.envelope as JsonObject;
    const record = String(envelope?.event_type);
    if (!this.options.signingKey) throw new PublishError("no signing key (REFERRAL_BUS_SIGNING_KEY_DIR)");
    if ((envelope.producer as JsonObject)?.agency_id !== this.options.agencyId) {
      throw new PublishError(`envelope.producer.agency_id must be ${this.options.agencyId}`);
    }
    try {
      const sealed = this.seal(record, this.schemas.normalise(record, event));
      const signed = signEvent(sealed, this.options.signingKey.keyId, this.options.signingKey.privateKey);
      return { key: String(envelope.case_id), value: this.schemas.encode(record, signed) };
    } catch (err) {
      if (err instanceof ContractError) throw new PublishError(`${record}: ${err.message}`);
      throw err;
    }
  }

  private async connectedProducer(): Promise<Producer> {
    if (!this.producer) {
      this.producer = this.kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, idempotent: true, maxInFlightRequests: 1 });
      await this.producer.connect();
    }
    return this.producer;
  }

  /** Publish `event` and return its receipt (ACCEPTED / DUPLICATE / REJECTED with reason_code). */
  async publish(event: JsonObject, timeoutMs = 60_000): Promise<Receipt> {
    const { key, value } = this.prepare(event);
    const ingress = this.topic("ingress");
    const receipts = this.topic("receipts");
    const admin: Admin = this.kafka.admin();
    await admin.connect();
    // where the receipts topic ends before the send: the receipt is after that
    const ends = await admin.fetchTopicOffsets(receipts).finally(() => admin.disconnect());
    const producer = await this.connectedProducer();
    const [ack] = await producer.send({ topic: ingress, acks: -1, messages: [{ key, value }] });
    const submission = `${ingress}:${ack.partition}:${ack.baseOffset}`;
    return this.waitForReceipt(receipts, submission, ends, timeoutMs);
  }

  private async waitForReceipt(topic: string, submission: string, ends: { partition: number; offset: string }[],
                               timeoutMs: number): Promise<Receipt> {
    // kafkajs always consumes in a group; the bus grants each agency the groups "<agency id>-…"
    const consumer = this.kafka.consumer({ groupId: `${this.options.agencyId}-receipts-${randomUUID()}` });
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: false });
      let timer: NodeJS.Timeout | undefined;
      const receipt = new Promise<Receipt>((resolve, reject) => {
        timer = setTimeout(() => reject(new PublishError(`no receipt for ${submission} within ${timeoutMs} ms (the router may be down; the event is on the ingress topic)`)), timeoutMs);
        consumer.run({
          autoCommit: false,
          eachMessage: async ({ partition, message }) => {
            if (message.key?.toString("utf8") !== submission || !message.value) return;
            const decoded = this.decodeOrSetAside(topic, partition, message.offset, message.value);
            if (decoded?.record === "Receipt") resolve(decoded.value);
          },
        }).catch(reject);
      });
      for (const end of ends) consumer.seek({ topic, partition: end.partition, offset: end.offset });
      return await receipt.finally(() => clearTimeout(timer));
    } finally {
      await consumer.disconnect();
    }
  }

  /**
   * Read this agency's inbox (consumer group `<agency>-inbox` unless named) until `until` returns
   * true for a delivery or `timeoutMs` passes; repeats of a delivery id are dropped. Returns every
   * delivery handed to `until`.
   */
  async readInbox(until: (d: Delivery) => boolean, timeoutMs = 60_000, groupSuffix = "inbox"): Promise<Delivery[]> {
    const topic = this.topic("inbox");
    const consumer: Consumer = this.kafka.consumer({ groupId: `${this.options.agencyId}-${groupSuffix}` });
    const seen: Delivery[] = [];
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve, reject) => {
        timer = setTimeout(() => reject(new PublishError(`the awaited delivery did not arrive within ${timeoutMs} ms`)), timeoutMs);
        consumer.run({
          eachMessage: async ({ partition, message }) => {
            const header = (name: string) => message.headers?.[name]?.toString() ?? null;
            const deliveryId = header("rb-delivery-id");
            if (deliveryId !== null) {
              if (this.seen.has(deliveryId)) return;
              this.seen.add(deliveryId);
            }
            if (!message.value) return;
            const decoded = this.decodeOrSetAside(topic, partition, message.offset, message.value);
            if (!decoded) return;
            const { record, value } = decoded;
            const delivery: Delivery = { record, value, deliveryId, paragraph: header("rb-paragraph"), purpose: header("rb-purpose"),
                                         redacted: header("rb-redacted") === "true", partition, offset: message.offset };
            seen.push(delivery);
            if (until(delivery)) resolve();
          },
        }).catch(reject);
      }).finally(() => clearTimeout(timer));
      return seen;
    } finally {
      await consumer.disconnect();
    }
  }

  /**
   * The inbox copy with its personal data opened: the key service unwraps the copy's data key (an
   * audited read, with `purpose`), then it is decrypted here. A copy without a sealed part is
   * returned as it is. Throws `PersonalDataUnavailable` with the key service's or the SDK's code.
   */
  async openPersonalData(delivery: Delivery | { record: string; value: JsonObject }, purpose: string): Promise<JsonObject> {
    const { record, value } = delivery;
    const sealed = value.sealed as JsonObject | null | undefined;
    if (!sealed) return value;
    if (sealed.recipient !== this.options.agencyId) {
      throw new PersonalDataUnavailable("NOT_SEALED_FOR_US", `this copy is sealed for ${sealed.recipient}, not for ${this.options.agencyId}`);
    }
    const env = value.envelope as JsonObject;
    const dataKey = await this.unwrap({
      case_id: String(env.case_id), event_id: String(env.event_id), recipient: String(sealed.recipient),
      wrapped_key: Buffer.from(String(sealed.wrapped_key).replace(/-/g, "+").replace(/_/g, "/"), "base64").toString("base64"),
      purpose,
    });
    try {
      return this.schemas.normalise(record, openSealed(record, value, dataKey));
    } catch (err) {
      if (err instanceof SealingError || err instanceof ContractError) throw new PersonalDataUnavailable("SEALED_DATA_INVALID", err.message);
      throw err;
    }
  }

  /** `POST {gateway}/v1/keys/unwrap` as this agency (HTTP Basic: its Kafka user name and password; the bus's CA). */
  private unwrapAtGateway(body: Parameters<Unwrap>[0]): Promise<Buffer> {
    const base = this.options.gatewayUrl;
    if (!base) return Promise.reject(new PersonalDataUnavailable("GATEWAY_UNREACHABLE", "no gateway to unwrap with: set REFERRAL_BUS_GATEWAY_URL"));
    const { username, password, caFile } = this.options.security;
    const url = new URL(base.replace(/\/+$/, "") + "/v1/keys/unwrap");
    const payload = Buffer.from(JSON.stringify(body), "utf8");
    const headers = {
      "Content-Type": "application/json", "Content-Length": String(payload.length),
      Authorization: `Basic ${Buffer.from(`${username ?? this.options.agencyId}:${password ?? ""}`, "utf8").toString("base64")}`,
    };
    return new Promise<Buffer>((resolve, reject) => {
      const done = (response: import("node:http").IncomingMessage) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("error", () => reject(new PersonalDataUnavailable("GATEWAY_UNREACHABLE", `${base}: the answer broke off`)));
        response.on("end", () => {
          let answer: any;
          try {
            answer = JSON.parse(Buffer.concat(chunks).toString("utf8"));
          } catch {
            answer = null;
          }
          if (response.statusCode === 200 && typeof answer?.data_key === "string") {
            resolve(Buffer.from(answer.data_key, "base64"));
          } else if (answer && typeof answer.code === "string") {
            reject(new PersonalDataUnavailable(answer.code, String(answer.message ?? "")));
          } else {
            reject(new PersonalDataUnavailable(`HTTP_${response.statusCode}`, "the gateway refused"));
          }
        });
      };
      const options = { method: "POST", headers, timeout: 30_000 };
      const req = url.protocol === "https:"
        ? httpsRequest(url, { ...options, ca: caFile ? readFileSync(caFile, "utf8") : undefined }, done)
        : httpRequest(url, options, done);
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", (err) => reject(new PersonalDataUnavailable("GATEWAY_UNREACHABLE", `${base}: ${err.message}`)));
      req.end(payload);
    });
  }

  /** A record that does not decode is set aside (its coordinates kept, never its bytes) and reading goes on. */
  private decodeOrSetAside(topic: string, partition: number, offset: string, value: Buffer): { record: string; value: JsonObject } | null {
    try {
      return this.schemas.decode(value);
    } catch (err) {
      if (!(err instanceof ContractError)) throw err;
      this.unreadable.push({ topic, partition, offset, reason: err.message.split(":")[0] });
      if (this.unreadable.length > 1000) this.unreadable.shift();
      return null;
    }
  }

  async close(): Promise<void> {
    await this.producer?.disconnect();
    this.producer = undefined;
  }
}
