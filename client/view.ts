/** Longest list the page keeps (events, transcripts): older entries are dropped, so a long session never grows the page. */
export const MAX_LIST_ITEMS = 200;

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`page: element #${id} is missing from index.html`);
  return found as T;
}

/** The page's elements and the few things that change them. */
export class View {
  readonly connect = element<HTMLButtonElement>("connect");
  readonly disconnect = element<HTMLButtonElement>("disconnect");
  readonly #state = element<HTMLSpanElement>("state");
  readonly #level = element<HTMLMeterElement>("level");
  readonly #error = element<HTMLParagraphElement>("error");
  readonly #user = element<HTMLOListElement>("user-transcript");
  readonly #bot = element<HTMLOListElement>("bot-transcript");
  readonly #events = element<HTMLOListElement>("events");
  #interim: HTMLLIElement | undefined;

  setState(state: string): void {
    this.#state.textContent = state;
    document.body.dataset.state = state;
  }

  setConnected(connected: boolean): void {
    this.connect.disabled = connected;
    this.disconnect.disabled = !connected;
  }

  setLevel(level: number): void {
    this.#level.value = level;
  }

  showError(text: string): void {
    this.#error.textContent = text;
    this.event("error", text);
  }

  clearError(): void {
    this.#error.textContent = "";
  }

  /** One line in the event log: `type` (kept in `data-type` for tests) and an optional detail. */
  event(type: string, detail?: unknown): void {
    const item = document.createElement("li");
    item.dataset.type = type;
    const text = detail === undefined ? "" : typeof detail === "string" ? detail : JSON.stringify(detail);
    item.textContent = `${new Date().toLocaleTimeString()} ${type}${text ? ` ${text}` : ""}`;
    append(this.#events, item);
  }

  /** The user's words: an interim result replaces the previous interim one; a final one stays. */
  userTranscript(text: string, final: boolean): void {
    const item = this.#interim ?? document.createElement("li");
    item.textContent = text;
    item.className = final ? "" : "interim";
    if (!this.#interim) append(this.#user, item);
    this.#interim = final ? undefined : item;
  }

  botTranscript(text: string): void {
    const item = document.createElement("li");
    item.textContent = text;
    append(this.#bot, item);
  }
}

function append(list: HTMLOListElement, item: HTMLLIElement): void {
  list.append(item);
  while (list.childElementCount > MAX_LIST_ITEMS) list.firstElementChild?.remove();
  list.scrollTop = list.scrollHeight;
}
