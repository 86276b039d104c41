/**
 * The Redis behind a distributed sweep: its address as the user writes it
 * (`redis://[user:password@]HOST:PORT[/DB]`), a first contact that fails fast with a clear
 * message (a wrong address is NQM4011, not an endless retry), and the connection settings that
 * BullMQ's queues and workers then use, which wait and retry when Redis goes away mid-sweep.
 */
import type { RedisOptions as BullConnection } from "bullmq";
import { Redis, type RedisOptions } from "ioredis";
import { fail } from "../../foundation/diagnostics.ts";

/** Where the queue lives, parsed from `--queue`. */
export interface QueueAddress {
  /** The URL as given, without its password (for messages). */
  readonly label: string;
  readonly host: string;
  readonly port: number;
  readonly db: number;
  readonly username?: string;
  readonly password?: string;
  readonly tls: boolean;
}

const EXAMPLE = "e.g. redis://127.0.0.1:6379 or redis://host:6379/2";

/** Parses `--queue redis://HOST:PORT[/DB]` (or rediss:// for TLS), or NQM3007 saying what is wrong. */
export function parseQueueUrl(text: string): QueueAddress {
  const bad = (reason: string): never => fail("NQM3007", { option: "--queue", reason: `${reason} (${EXAMPLE})` });
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    return bad(`\`${text}\` is not a URL`);
  }
  if (url.protocol !== "redis:" && url.protocol !== "rediss:")
    bad(`\`${text}\` is not a Redis URL: it must start with redis:// (or rediss:// for TLS)`);
  if (url.hostname === "") bad(`\`${text}\` names no host`);
  const port = url.port === "" ? 6379 : Number(url.port);
  const path = url.pathname.replace(/^\//, "");
  if (!/^\d*$/.test(path) || Number(path) > 1_000_000)
    bad(`\`${path}\` is not a database number (the path of the URL is the Redis database, 0 by default)`);
  if (url.search !== "" || url.hash !== "") bad("the URL takes no ?query or #fragment");
  const db = path === "" ? 0 : Number(path);
  const username = url.username === "" ? undefined : decodeURIComponent(url.username);
  const password = url.password === "" ? undefined : decodeURIComponent(url.password);
  const label = `${url.protocol}//${url.host}${db === 0 ? "" : `/${db}`}`;
  return {
    label,
    host: url.hostname.replace(/^\[(.*)\]$/, "$1"),
    port,
    db,
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
    tls: url.protocol === "rediss:",
  };
}

/** The ioredis settings for an address, without any retry policy. */
function baseOptions(address: QueueAddress): RedisOptions {
  return {
    host: address.host,
    port: address.port,
    db: address.db,
    ...(address.username !== undefined ? { username: address.username } : {}),
    ...(address.password !== undefined ? { password: address.password } : {}),
    ...(address.tls ? { tls: {} } : {}),
  };
}

/** How long the first contact may take before the address is declared unreachable. */
const FIRST_CONTACT_MS = 5_000;

/** Why a connection failed, in a few words (the errno code when there is one). */
export function connectionReason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const message = error instanceof Error ? error.message : String(error);
  if (code === "ECONNREFUSED") return "connection refused (is redis-server running there, on that port?)";
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return "the host name does not resolve";
  if (code === "ETIMEDOUT" || /timed? ?out/i.test(message)) return "no answer (a firewall, or the wrong host?)";
  return message.replace(/^ReplyError: /, "");
}

/**
 * Connects once to check that a Redis answers at `address` (and accepts its database and
 * password): NQM4011 naming the address and the cause when it does not, within a few seconds.
 */
export async function checkQueueReachable(address: QueueAddress): Promise<void> {
  let lastError: unknown;
  const client = new Redis({
    ...baseOptions(address),
    lazyConnect: true,
    connectTimeout: FIRST_CONTACT_MS,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  client.on("error", (error: unknown) => {
    lastError = error;
  });
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    fail("NQM4011", {
      url: address.label,
      reason: connectionReason(lastError ?? error),
      advice: "check the --queue URL, and that redis-server runs there and accepts connections from this machine",
    });
  } finally {
    client.disconnect();
  }
}

/**
 * The connection settings of BullMQ's queues and workers: once the first contact has succeeded,
 * a lost connection is retried every second or two, for as long as it takes; commands wait.
 */
export function queueConnection(address: QueueAddress): BullConnection {
  return {
    ...baseOptions(address),
    maxRetriesPerRequest: null,
    retryStrategy: (times: number) => Math.min(500 * times, 2_000),
  };
}

/**
 * Reports connection trouble on stderr without flooding it: the first error of an outage says
 * that nqm waits for Redis, later ones at most every 30 s; `recovered()` says it is back.
 */
export function outageReporter(
  who: string,
  address: QueueAddress,
  write: (line: string) => void = (line) => process.stderr.write(line),
): { readonly error: (error: unknown) => void; readonly recovered: () => void } {
  let down = false;
  let lastReport = 0;
  return {
    error(error) {
      const now = Date.now();
      if (down && now - lastReport < 30_000) return;
      write(
        `nqm ${who}: lost the queue at ${address.label} (${connectionReason(error)}); waiting for it to come back, retrying every 2 s\n`,
      );
      down = true;
      lastReport = now;
    },
    recovered() {
      if (!down) return;
      down = false;
      write(`nqm ${who}: the queue at ${address.label} is back\n`);
    },
  };
}
