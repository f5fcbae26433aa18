/**
 * The page's only way to the extension: a wrapper around acquireVsCodeApi(). In a plain browser
 * (tests), the page has no VS Code; it then talks to `window.berthHost`, a fake host the test
 * installs before the script runs, with the same messages.
 */
import type { HostMessage, PageMessage } from './messages';

export interface Api {
  post(message: PageMessage): void;
  onMessage(listener: (message: HostMessage) => void): void;
  /** State that survives the panel being hidden (VS Code's setState; memory elsewhere). */
  getState<T>(): T | undefined;
  setState<T>(state: T): void;
}

/** What a test installs as `window.berthHost`: receives page messages and replies through `reply`. */
export interface FakeHost {
  receive(message: PageMessage, reply: (message: HostMessage) => void): void;
}

declare function acquireVsCodeApi(): { postMessage(m: unknown): void; getState(): unknown; setState(s: unknown): void };

export function createApi(): Api {
  const listeners: ((m: HostMessage) => void)[] = [];
  const deliver = (m: HostMessage) => {
    for (const l of listeners) l(m);
  };
  if (typeof acquireVsCodeApi === 'function') {
    const vscode = acquireVsCodeApi();
    window.addEventListener('message', (ev: MessageEvent) => deliver(ev.data as HostMessage));
    return {
      post: (m) => vscode.postMessage(m),
      onMessage: (l) => void listeners.push(l),
      getState: <T>() => vscode.getState() as T | undefined,
      setState: (s) => vscode.setState(s),
    };
  }
  const host = (window as unknown as { berthHost?: FakeHost }).berthHost;
  let state: unknown;
  return {
    // Asynchronous like the real channel, so the page never relies on a synchronous answer.
    post: (m) => setTimeout(() => host?.receive(m, deliver), 0),
    onMessage: (l) => void listeners.push(l),
    getState: <T>() => state as T | undefined,
    setState: (s) => void (state = s),
  };
}
