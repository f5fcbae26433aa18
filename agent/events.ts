/**
 * The agent's one event stream: images and containers publish Docker-shaped events here, and every
 * subscribed connection receives them (see `berth/subscribe`).
 */
import type { BerthEvent, ContainerEventAction, ImageEventAction, VolumeEventAction } from '../protocol';

export type EventListener = (e: BerthEvent) => void;

export class EventHub {
  private readonly listeners = new Set<EventListener>();

  /** Subscribes to events; returns the unsubscribe function. */
  on(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(type: 'image', action: ImageEventAction, id: string, attributes?: Record<string, string>): void;
  emit(type: 'container', action: ContainerEventAction, id: string, attributes?: Record<string, string>): void;
  emit(type: 'volume', action: VolumeEventAction, id: string, attributes?: Record<string, string>): void;
  emit(type: BerthEvent['Type'], action: BerthEvent['Action'], id: string, attributes: Record<string, string> = {}): void {
    const now = Date.now();
    const event = {
      Type: type,
      Action: action,
      Actor: { ID: id, Attributes: attributes },
      time: Math.floor(now / 1000),
      timeNano: now * 1_000_000,
    } as BerthEvent;
    for (const l of this.listeners) {
      try {
        l(event);
      } catch {
        // Must swallow everything: a listener's failure (a closed connection) must not stop the others.
      }
    }
  }
}
