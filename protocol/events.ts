/**
 * Events: what happened to images, containers and volumes, and the subscription that delivers them.
 */
import { NotificationType } from 'vscode-jsonrpc';
import * as v from 'valibot';
import { params, texts, opt, request } from './schema';

/** What happened to an image. */
export type ImageEventAction = 'pull' | 'tag' | 'untag' | 'delete' | 'load' | 'save' | 'push';

/**
 * What happened to a container: create, start, kill (a signal was sent; attribute `signal`), oom
 * (the kernel's OOM killer killed a process of it; sent before `die`), die (its init exited;
 * attribute `exitCode`), stop (after `die`, when the exit was asked for by `container/stop`),
 * destroy (removed). Attributes always carry `name` and `image` (the reference as given).
 */
export type ContainerEventAction = 'create' | 'start' | 'kill' | 'oom' | 'die' | 'stop' | 'destroy' | ContainerEventActionMore;

/**
 * More container events: commit (an image was made from it; attributes `imageID` and, when
 * tagged, `imageRef`), restart (after the `start` of a `container/restart`), listen and unlisten
 * (see {@link ContainerListenEventAction}).
 */
export type ContainerEventActionMore = 'commit' | 'restart' | ContainerListenEventAction;

/**
 * Detected ports of a running workspace container (label `berth.workspace`, bridge network), sent
 * by the agent's port watcher (agent/workspace/ports.ts), which looks at the container's listening
 * TCP sockets about once a second. listen: a process in the container listens on a port that is
 * not published; attributes `workspace` (the folder), `port`, and either `hostIp` and `hostPort`
 * (forwarded there on the host), and `loopbackOnly` "true" when it is bound to the container's
 * loopback (relayed into its network namespace by the runtime helper). unlisten: nothing listens on `port` any more (its
 * forward is closed); attributes `workspace`, `port`. None are sent when the container exits (its
 * `die` means every port is gone). Clients showing forwarded ports refresh `workspace/status`.
 */
export type ContainerListenEventAction = 'listen' | 'unlisten';

interface EventBase {
  /** The image ID, or the container's 64-hex ID. */
  Actor: { ID: string; Attributes: Record<string, string> };
  /** Seconds since the epoch. */
  time: number;
  timeNano: number;
}

/**
 * Something happened in the agent: the events every subscriber receives. Docker's event shape, so
 * the same filters and habits work.
 */
export type BerthEvent =
  | (EventBase & { Type: 'image'; Action: ImageEventAction })
  | (EventBase & { Type: 'container'; Action: ContainerEventAction })
  | (EventBase & { Type: 'volume'; Action: VolumeEventAction });

/**
 * What happened to a volume (Actor.ID is its name; attribute `driver` is "local"): create, mount
 * (a container using it started; attributes `container`, `destination`, `read/write`), unmount
 * (that container exited), destroy (removed).
 */
export type VolumeEventAction = 'create' | 'mount' | 'unmount' | 'destroy';

export const SubscribeParams = params({
  /** Event types to receive; all when absent. */
  types: opt(
    v.pipe(
      texts(),
      v.transform((t) => t as BerthEvent['Type'][]),
    ),
  ),
});
export type SubscribeParams = v.InferOutput<typeof SubscribeParams>;

/**
 * `berth/subscribe`. Sent by a client that wants live events (the extension on connect, `berth
 * events`). From then on the agent sends {@link EventNotification} on this connection until it
 * closes. Errors: InvalidArgument.
 */
export const SubscribeRequest = request('berth/subscribe', SubscribeParams).answers<void>();

/**
 * `berth/event`. Sent by the agent to every subscribed connection (see {@link SubscribeRequest})
 * after a change to the store completes.
 */
export namespace EventNotification {
  export const method = 'berth/event';
  export const type = new NotificationType<BerthEvent>(method);
}
