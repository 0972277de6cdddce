/**
 * An agency's connection to the bus on kafkajs: publish a signed event on `rb.ingress.<agency>`
 * keyed by case id (kafkajs's DefaultPartitioner is the Java client's murmur2, which the bus
 * requires: docs/contract.md), wait for its receipt on `rb.receipts.<agency>` (keyed
 * `<topic>:<partition>:<offset>`), and read `rb.inbox.<agency>` dropping repeats by `rb-delivery-id`.
 */
import { randomUUID, KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Admin, Consumer, Kafka, KafkaConfig, logLevel, Partitioners, Producer } from "kafkajs";
import { ContractError, JsonObject, privateKeyFromPem, Schemas, signEvent } from "./contract";

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

  constructor(readonly options: ClientOptions) {
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

  /** Normalise, sign and frame `event`; the bytes to send. Refuses what the schema refuses, naming the field. */
  prepare(event: JsonObject): { key: string; value: Buffer } {
    const envelope = event.envelope as JsonObject;
    const record = String(envelope?.event_type);
    if (!this.options.signingKey) throw new PublishError("no signing key (REFERRAL_BUS_SIGNING_KEY_DIR)");
    if ((envelope.producer as JsonObject)?.agency_id !== this.options.agencyId) {
      throw new PublishError(`envelope.producer.agency_id must be ${this.options.agencyId}`);
    }
    try {
      const signed = signEvent(this.schemas.normalise(record, event), this.options.signingKey.keyId, this.options.signingKey.privateKey);
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
