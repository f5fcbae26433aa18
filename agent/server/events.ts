/** `berth/subscribe`: the connection receives the agent's events (once subscribed, for good). */
import { EventNotification, SubscribeRequest } from '../../protocol';
import type { AgentConnection } from './connection';
import { serve } from './serve';

export function serveEvents(c: AgentConnection): void {
  serve(c, SubscribeRequest, (p) => {
    if (c.subscribed) return;
    c.subscribed = true;
    const types = p.types;
    c.onClose(
      c.services.images.onEvent((e) => {
        if (!types || types.includes(e.Type)) c.notify(EventNotification.type, e);
      }),
    );
  });
}
