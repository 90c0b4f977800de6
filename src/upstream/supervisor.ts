/**
 * Keeps exactly one {@link UpstreamManager} per enabled server, following the config as the log reports it:
 * a server added gets a manager, a server removed, disabled or re-pointed (URL or credential) has its
 * manager stopped and an `UpstreamRemoved` appended.
 */
import type { EventLog, ProjectionView } from "../events/log.ts";
import type { UpstreamsState } from "../routing/upstreams.ts";
import { type ManagerOptions, UpstreamManager } from "./manager.ts";

export class UpstreamSupervisor {
  #managers = new Map<string, UpstreamManager>();
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
      manager.start();
    }
  }

  async stop(): Promise<void> {
    this.#unsubscribe?.();
    const managers = [...this.#managers.values()];
    this.#managers.clear();
    await Promise.all(managers.map((m) => m.stop()));
  }
}
