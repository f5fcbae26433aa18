/**
 * An HTTP proxy of the tests' own in front of a real registry, on 127.0.0.1, that injects the
 * faults real networks and registries produce: 5xx and 429 answers, connections dropped in the
 * middle of a body, stalls, throttled bodies and corrupted bytes. Everything else passes through
 * unchanged (headers too, so auth challenges and digests are the registry's own).
 */
import { request, createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { registerCleanup } from './tmp';

export type Fault =
  | { kind: 'status'; status: number; retryAfter?: number }
  /** Sends the status line, headers and this many body bytes, then destroys the socket. */
  | { kind: 'cut'; afterBytes: number }
  /** Sends this many body bytes, then nothing more (the socket stays open until the proxy stops). */
  | { kind: 'stall'; afterBytes: number }
  /** Flips one byte of the body at this offset. */
  | { kind: 'corrupt'; atByte: number }
  /** Sends the body at about this many bytes per second. */
  | { kind: 'throttle'; bytesPerSecond: number };

export interface ProxiedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
}

export interface FaultProxy {
  /** "127.0.0.1:PORT": use it as the registry host in references. */
  host: string;
  /** Every request seen, in order. */
  requests: ProxiedRequest[];
  /** Decides the fault for each request (undefined: pass through). Replace at will. */
  fault: (req: ProxiedRequest, nth: number) => Fault | undefined;
  /** Number of requests whose path matched `re`. */
  count(re: RegExp, method?: string): number;
  stop(): Promise<void>;
}

export async function startFaultProxy(upstreamHost: string): Promise<FaultProxy> {
  const [upHost, upPort] = upstreamHost.split(':');
  const stalled = new Set<ServerResponse>();
  const proxy: FaultProxy = {
    host: '',
    requests: [],
    fault: () => undefined,
    count: (re, method) => proxy.requests.filter((r) => re.test(r.path) && (!method || r.method === method)).length,
    stop: async () => {
      for (const res of stalled) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      unregister();
    },
  };
  const server: Server = createServer((req, res) => {
    const seen: ProxiedRequest = { method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers };
    proxy.requests.push(seen);
    const fault = proxy.fault(seen, proxy.requests.length);
    if (fault?.kind === 'status') {
      res.writeHead(fault.status, {
        'content-type': 'application/json',
        ...(fault.retryAfter !== undefined ? { 'retry-after': String(fault.retryAfter) } : {}),
      });
      res.end(JSON.stringify({ errors: [{ code: 'UNKNOWN', message: `injected ${fault.status}` }] }));
      return;
    }
    const headers = { ...req.headers, host: upstreamHost };
    const up = request({ host: upHost, port: Number(upPort), method: req.method, path: req.url, headers }, (upRes) => {
      const outHeaders = { ...upRes.headers };
      // Location headers pointing at the upstream must come back through the proxy.
      if (typeof outHeaders.location === 'string')
        outHeaders.location = outHeaders.location.replace(`//${upstreamHost}`, `//${proxy.host}`);
      res.writeHead(upRes.statusCode ?? 502, outHeaders);
      if (!fault) {
        upRes.pipe(res);
        return;
      }
      let sent = 0;
      let stopped = false;
      upRes.on('data', (chunk: Buffer) => {
        if (stopped) return;
        if (fault.kind === 'cut' || fault.kind === 'stall') {
          const room = fault.afterBytes - sent;
          if (chunk.length >= room) {
            if (room > 0) res.write(chunk.subarray(0, room));
            sent += Math.max(room, 0);
            stopped = true;
            upRes.destroy();
            if (fault.kind === 'cut') res.socket?.destroy();
            else stalled.add(res);
            return;
          }
        }
        if (fault.kind === 'corrupt' && fault.atByte >= sent && fault.atByte < sent + chunk.length) {
          chunk = Buffer.from(chunk);
          chunk[fault.atByte - sent] ^= 0xff;
        }
        sent += chunk.length;
        if (fault.kind === 'throttle') {
          upRes.pause();
          res.write(chunk);
          setTimeout(() => upRes.resume(), Math.ceil((chunk.length / fault.bytesPerSecond) * 1000));
          return;
        }
        res.write(chunk);
      });
      upRes.on('end', () => !stopped && res.end());
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  proxy.host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const unregister = registerCleanup(() => proxy.stop());
  return proxy;
}
