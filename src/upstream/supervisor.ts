/**
 * Keeps exactly one {@link UpstreamManager} per enabled server, following the config as the log reports it:
 * a server added gets a manager, a server removed, disabled or re-pointed (URL or credential) has its
 * manager stopped and an `UpstreamRemoved` appended. Resource watches are held here, by server name, so they
 * survive a manager being replaced.
 */
import type { EventLog, ProjectionView } from "../events/log.ts";
import type { UpstreamsState } from "../routing/upstreams.ts";
import { type ManagerOptions, type ResourceUpdated, UpstreamManager } from "./manager.ts";

/** Resource updates from backends, by the backend's own URI (what the broker's listeners need). */
export interface ResourceWatcher {
  /** Calls `onUpdate` whenever server `server` reports resource `uri` changed, until the return is called. */
  watchResource(server: string, uri: string, onUpdate: ResourceUpdated): () => void;
}

interface Watch {
  uri: string;
  onUpdate: ResourceUpdated;
  /** Ends the watch on the current manager. */
  release?: () => void;
}

export class UpstreamSupervisor implements ResourceWatcher {
  #managers = new Map<string, UpstreamManager>();
  #watches = new Map<string, Set<Watch>>();
  #unsubscribe?: () => void;

  constructor(
    private readonly log: EventLog,
    private readonly upstreams: ProjectionView<UpstreamsState>,
    private readonly options: Omit<ManagerOptions, "log">,
  ) {}

  start(): void {
    this.#reconcile();
    this.#unsubscribe = this.log.subscribe((event) => {
      if (event.type === "ConfigLoaded") this.#reconcile();
    });
  }

  #reconcile() {
    const wanted = new Map(
      [...this.upstreams.state.servers.values()]
        .filter((s) => s.config.enabled)
        .map((s) => [s.config.name, s]),
    );
    for (const [name, manager] of this.#managers) {
      if (wanted.get(name)?.upstreamKey === manager.key) continue;
      this.#managers.delete(name);
      manager.stop().finally(() => {
        this.log.append({ type: "UpstreamRemoved", server: name, upstreamKey: manager.key });
      });
    }
    for (const [name, state] of wanted) {
      if (this.#managers.has(name)) continue;
      const manager = new UpstreamManager(state.config, state.upstreamKey, {
        ...this.options,
        log: this.log,
      });
      this.#managers.set(name, manager);
      for (const watch of this.#watches.get(name) ?? []) {
        watch.release = manager.watchResource(watch.uri, watch.onUpdate);
      }
      manager.start();
    }
  }

  watchResource(server: string, uri: string, onUpdate: ResourceUpdated): () => void {
    const watch: Watch = { uri, onUpdate };
    let watches = this.#watches.get(server);
    if (!watches) this.#watches.set(server, watches = new Set());
    watches.add(watch);
    watch.release = this.#managers.get(server)?.watchResource(uri, onUpdate);
    return () => {
      watch.release?.();
      watches.delete(watch);
      if (!watches.size) this.#watches.delete(server);
    };
  }

  async stop(): Promise<void> {
    this.#unsubscribe?.();
    const managers = [...this.#managers.values()];
    this.#managers.clear();
    await Promise.all(managers.map((m) => m.stop()));
  }
}
