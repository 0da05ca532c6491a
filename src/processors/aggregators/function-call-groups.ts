import type { FunctionCallInfo } from "../../frames/function-calls.js";

/** What settling one call did to its group. */
export interface GroupSettlement {
  /** Every call of the group is settled now (or the call belonged to no known group). */
  readonly done: boolean;
  /** With `done`: at least one of the group's results asked the LLM to answer. */
  readonly runLlm: boolean;
}

interface Group {
  readonly pending: Set<string>;
  runLlm: boolean;
}

/**
 * The function calls of each `FunctionCallsStartedFrame` still waiting for a result or a cancel,
 * so the LLM is asked to answer once per group, when the whole group is settled. Bounded: a group
 * whose calls never settle (a runner that lost them) is forgotten, oldest first, once more than
 * `maxCalls` calls are open. @internal
 */
export class FunctionCallGroups {
  readonly #byCall = new Map<string, Group>();
  /** Groups forgotten by the bound so far. */
  evicted = 0;

  constructor(readonly maxCalls: number) {}

  /** Calls still open. */
  get openCalls(): number {
    return this.#byCall.size;
  }

  /** Opens a group for `calls` (a call id seen before moves to the new group). Returns how many groups the bound evicted. */
  start(calls: readonly FunctionCallInfo[]): number {
    if (calls.length === 0) return 0;
    const group: Group = { pending: new Set(calls.map((c) => c.toolCallId)), runLlm: false };
    for (const id of group.pending) {
      this.#byCall.delete(id);
      this.#byCall.set(id, group);
    }
    let evicted = 0;
    while (this.#byCall.size > this.maxCalls) {
      const [, oldest] = this.#byCall.entries().next().value as [string, Group];
      if (oldest === group) break; // one group alone over the bound: keep it
      for (const id of oldest.pending) this.#byCall.delete(id);
      evicted++;
    }
    this.evicted += evicted;
    return evicted;
  }

  /** Call `id` has its result (`runLlm`: the result asks for an answer) or was cancelled (`false`). */
  settle(id: string, runLlm: boolean): GroupSettlement {
    const group = this.#byCall.get(id);
    if (!group) return { done: true, runLlm }; // a call of no known group is a group of its own
    this.#byCall.delete(id);
    group.pending.delete(id);
    group.runLlm ||= runLlm;
    return group.pending.size === 0 ? { done: true, runLlm: group.runLlm } : { done: false, runLlm: false };
  }

  clear(): void {
    this.#byCall.clear();
  }
}
