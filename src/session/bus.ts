/**
 * Delivery between processes that serve the same clients (replicas, local workers). A client's GET stream is
 * open on one process, while what it must hear may arrive at another: a backend's request or notification on
 * the backend session's own GET stream, which exactly one process holds. The broker calls this interface at
 * those two points, and for calls bridged between protocol eras (`broker/bridge/`), whose answers and retries
 * may reach a process other than the one holding the call (mailboxes); the embedded default
 * ({@link LOCAL_BUS}) is one process, where every end is always here.
 */

export interface SessionBus {
  /** True when other processes share the sessions (and so the calls below do something). */
  readonly shared: boolean;
  /**
   * Delivers one message (JSON text) to a GET stream of `session` held by another process; resolves false
   * when none took it. Called only when this process holds no stream of that session.
   */
  publish(session: string, json: string): Promise<boolean>;
  /** This process holds a GET stream of `session`: messages published for it arrive at `receive`. */
  listen(session: string, receive: (json: string) => void): () => void;
  /**
   * Whether this process should hold the GET stream of the backend session of (`session`, `server`): true
   * when it already does, or nobody alive does and it takes it now. A backend allows one such stream per
   * session, and a message on it must reach the client once.
   */
  claimBackendStream(session: string, server: string): Promise<boolean>;
  /** The backend stream ended here: another process may hold it now. */
  releaseBackendStream(session: string, server: string): void;
  /** Calls `listener` when a process that may have held backend streams is gone (their streams are free). */
  onPeerLost(listener: () => void): () => void;
  /** This process's name among those sharing the sessions. */
  readonly replica: string;
  /** Whether the process `replica` is alive (its heartbeat is recent). */
  isAlive(replica: string): Promise<boolean>;
  /**
   * Opens the mailbox `box` here: messages sent to it from any process arrive at `receive`. Resolves once
   * they can (a sender told of the box afterwards loses nothing); the returned function closes it.
   */
  openBox(box: string, receive: (json: string) => void): Promise<() => void>;
  /** Delivers one message to the mailbox `box` open on another process; resolves false when none has it open. */
  sendToBox(box: string, json: string): Promise<boolean>;
}

/** One process: every stream is here. */
export const LOCAL_BUS: SessionBus = {
  shared: false,
  publish: () => Promise.resolve(false),
  listen: () => () => {},
  claimBackendStream: () => Promise.resolve(true),
  releaseBackendStream: () => {},
  onPeerLost: () => () => {},
  replica: "local",
  isAlive: () => Promise.resolve(true),
  openBox: () => Promise.resolve(() => {}),
  sendToBox: () => Promise.resolve(false),
};
