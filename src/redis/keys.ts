/**
 * The store's layout: every key the gateway writes, under one prefix, and the Lua scripts that change more
 * than one key at once. The state of a session is one hash that expires with the session's token, so a
 * store left alone forgets every session by itself.
 *
 * | key                        | what                                                                    |
 * | -------------------------- | ----------------------------------------------------------------------- |
 * | `events`                   | stream of shared session events (bounded: `MAXLEN ~`)                   |
 * | `s:<session>`              | hash: `x` expiry, `v` version, `a` answers requests, `b:<server>`       |
 * |                            | binding (`<version> <backend session id>`), `l` log level,              |
 * |                            | `u:<server>\n<uri>` resource subscription                               |
 * | `closed:<session>`         | tombstone of a DELETEd session (value: its expiry), until that expiry   |
 * | `claim:<session>\|<server>` | the replica opening that backend session now                            |
 * | `own:<session>\|<server>`   | the replica holding that backend session's GET stream                   |
 * | `call:<session>\|<id>`      | a call in flight (JSON); `latest:<session>` the session's latest        |
 * | `relay:<session>\|<id>`     | a backend's request relayed to the client (JSON)                        |
 * | `input:<id>`               | a call held on a 2025 backend for a 2026 client's input (JSON)          |
 * | `alive:<replica>`          | the replica's heartbeat; `replicas` the set of replica names            |
 * | `deliver:<session>`        | pub/sub channel of the session's GET stream                             |
 * | `box:<mailbox>`            | pub/sub channel of one waiter (a bridged call and its retries)          |
 */

import type { Redis } from "ioredis";

export const PREFIX = "mcpgw:";

export const keys = {
  stream: `${PREFIX}events`,
  replicas: `${PREFIX}replicas`,
  alivePrefix: `${PREFIX}alive:`,
  sessionPrefix: `${PREFIX}s:`,
  closedPrefix: `${PREFIX}closed:`,
  session: (id: string) => `${PREFIX}s:${id}`,
  closed: (id: string) => `${PREFIX}closed:${id}`,
  claim: (id: string, server: string) => `${PREFIX}claim:${id}|${server}`,
  owner: (id: string, server: string) => `${PREFIX}own:${id}|${server}`,
  call: (id: string, rawId: string) => `${PREFIX}call:${id}|${rawId}`,
  latest: (id: string) => `${PREFIX}latest:${id}`,
  relay: (id: string, gatewayId: string) => `${PREFIX}relay:${id}|${gatewayId}`,
  alive: (replica: string) => `${PREFIX}alive:${replica}`,
  channel: (id: string) => `${PREFIX}deliver:${id}`,
  held: (key: string, server: string) => `${PREFIX}held:${key}|${server}`,
  task: (taskId: string) => `${PREFIX}task:${taskId}`,
  input: (id: string) => `${PREFIX}input:${id}`,
  box: (box: string) => `${PREFIX}box:${box}`,
};

/** Hash field of the binding on `server`. */
export const bindingField = (server: string) => `b:${server}`;
/** Hash field of a resource subscription. */
export const subscriptionField = (server: string, uri: string) => `u:${server}\n${uri}`;

/** A binding as the session hash holds it: `<protocol version> <backend session id>` (the id may be ""). */
export function encodeBinding(binding: { id: string; protocolVersion: string }): string {
  return `${binding.protocolVersion} ${binding.id}`;
}

export function decodeBinding(text: string): { id: string; protocolVersion: string } {
  const space = text.indexOf(" ");
  return { protocolVersion: text.slice(0, space), id: text.slice(space + 1) };
}

/**
 * Folds one shared session event into the session's hash and appends it to the stream, atomically: the
 * hashes are the state a late replica starts from, the stream the tail it follows.
 *
 * KEYS: stream, session hash, tombstone, claim. ARGV: replica, event JSON, maxlen, type, server, backend
 * session, protocol version, expiresAt, answersRequests ("1" or ""), now (ms).
 */
export const APPEND_EVENT = `
local t = ARGV[4]
if t == 'SessionClosed' then
  redis.call('DEL', KEYS[2])
  if tonumber(ARGV[8]) > tonumber(ARGV[10]) then redis.call('SET', KEYS[3], ARGV[8], 'PXAT', ARGV[8]) end
else
  if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
  if t == 'SessionOpened' then
    redis.call('HSET', KEYS[2], 'x', ARGV[8], 'v', ARGV[7], 'a', ARGV[9])
    redis.call('PEXPIREAT', KEYS[2], ARGV[8])
  elseif t == 'BackendSessionBound' then
    redis.call('HSET', KEYS[2], 'b:' .. ARGV[5], ARGV[7] .. ' ' .. ARGV[6])
    redis.call('HSETNX', KEYS[2], 'x', ARGV[8])
    redis.call('PEXPIREAT', KEYS[2], ARGV[8])
    redis.call('DEL', KEYS[4])
  elseif t == 'BackendSessionInvalidated' then
    local field = 'b:' .. ARGV[5]
    local current = redis.call('HGET', KEYS[2], field)
    if current and string.sub(current, string.find(current, ' ') + 1) == ARGV[6] then
      redis.call('HDEL', KEYS[2], field)
    end
  end
end
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'r', ARGV[1], 'e', ARGV[2])
return 1
`;

/**
 * Claims the opening of a backend session, unless one is recorded, the session is closed, or a live replica
 * is opening it now. KEYS: session hash, tombstone, claim. ARGV: binding field, replica, claim ttl (ms),
 * alive-key prefix. Returns {'closed'} | {'bound', binding, expiresAt} | {'busy'} | {'claimed'}.
 */
export const CLAIM_BINDING = `
if redis.call('EXISTS', KEYS[2]) == 1 then return {'closed'} end
local bound = redis.call('HGET', KEYS[1], ARGV[1])
if bound then return {'bound', bound, redis.call('HGET', KEYS[1], 'x') or '0'} end
local holder = redis.call('GET', KEYS[3])
if holder and holder ~= ARGV[2] and redis.call('EXISTS', ARGV[4] .. holder) == 1 then return {'busy'} end
redis.call('SET', KEYS[3], ARGV[2], 'PX', ARGV[3])
return {'claimed'}
`;

/**
 * Takes (or keeps) a key naming its holder, unless a live replica holds it. KEYS: the key. ARGV: replica,
 * ttl (ms), alive-key prefix. Returns 1 when this replica holds it now.
 */
export const CLAIM_OWNER = `
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if holder and redis.call('EXISTS', ARGV[3] .. holder) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`;

/** Deletes a key only while it still names this holder. KEYS: the key. ARGV: holder. */
export const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/**
 * Sets one field of a session's hash; a hash that had no expiry (a session the store never saw open) gets
 * one, so nothing outlives the sessions. KEYS: hash. ARGV: field, value, ttl (ms).
 */
export const SET_SESSION_FIELD = `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 1
`;

/**
 * Writes back a session this replica served while the store was away, without overwriting what is there
 * (another replica's binding wins; the snapshot read next tells this one). KEYS: hash, tombstone. ARGV:
 * expiresAt, version, answersRequests, then field/value pairs of bindings. Returns 0 when the session is
 * closed.
 */
export const RESTORE_SESSION = `
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('HSETNX', KEYS[1], 'x', ARGV[1])
redis.call('HSETNX', KEYS[1], 'v', ARGV[2])
redis.call('HSETNX', KEYS[1], 'a', ARGV[3])
for i = 4, #ARGV, 2 do redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
return 1
`;

/** The scripts above, as calls on one connection (EVALSHA, loaded again by ioredis after a store restart). */
export interface Scripts {
  appendEvent(keys: string[], args: string[]): Promise<number>;
  claimBinding(keys: string[], args: string[]): Promise<string[]>;
  claimOwner(key: string, args: string[]): Promise<number>;
  release(key: string, holder: string): Promise<number>;
  setSessionField(key: string, args: string[]): Promise<number>;
  restoreSession(keys: string[], args: string[]): Promise<number>;
}

export function defineScripts(client: Redis): Scripts {
  const define = (name: string, numberOfKeys: number, lua: string) => {
    client.defineCommand(name, { numberOfKeys, lua });
    const command = (client as unknown as Record<string, (...args: string[]) => Promise<unknown>>)[name];
    return (...args: string[]) => command.apply(client, args);
  };
  const append = define("mcpgwAppendEvent", 4, APPEND_EVENT);
  const claimBinding = define("mcpgwClaimBinding", 3, CLAIM_BINDING);
  const claimOwner = define("mcpgwClaimOwner", 1, CLAIM_OWNER);
  const release = define("mcpgwRelease", 1, RELEASE);
  const setField = define("mcpgwSetSessionField", 1, SET_SESSION_FIELD);
  const restore = define("mcpgwRestoreSession", 2, RESTORE_SESSION);
  return {
    appendEvent: (k, a) => append(...k, ...a) as Promise<number>,
    claimBinding: (k, a) => claimBinding(...k, ...a) as Promise<string[]>,
    claimOwner: (key, a) => claimOwner(key, ...a) as Promise<number>,
    release: (key, holder) => release(key, holder) as Promise<number>,
    setSessionField: (key, a) => setField(key, ...a) as Promise<number>,
    restoreSession: (k, a) => restore(...k, ...a) as Promise<number>,
  };
}
