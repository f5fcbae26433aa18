/**
 * Published ports as the Containers tree shows them, from ContainerSummary.Ports (Docker's shape:
 * {IP, PrivatePort, PublicPort, Type}; unpublished exposed ports have no PublicPort). Plain
 * TypeScript. Docker's `ps` writes "0.0.0.0:8080->80/tcp, 443/tcp"; the tree writes arrows and
 * leaves out the any-address IPs, which say nothing.
 */
import type { ContainerSummary } from '../../../protocol';

type Port = ContainerSummary['Ports'][number];

const ANY = new Set(['', '0.0.0.0', '::']);

/** One port: "8080→80/tcp", "127.0.0.1:8080→80/tcp", or "443/tcp" when not published. */
export function portText(p: Port): string {
  const inner = `${p.PrivatePort}/${p.Type}`;
  if (p.PublicPort === undefined) return inner;
  const ip = p.IP && !ANY.has(p.IP) ? (p.IP.includes(':') ? `[${p.IP}]:` : `${p.IP}:`) : '';
  return `${ip}${p.PublicPort}→${inner}`;
}

/**
 * The published ports, each once (Docker lists a binding per address family), sorted by host
 * port; "" when none. For the row's description.
 */
export function publishedPortsText(ports: readonly Port[] | undefined): string {
  const published = (ports ?? []).filter((p) => p.PublicPort !== undefined);
  const sorted = [...published].sort(
    (a, b) => a.PublicPort! - b.PublicPort! || a.PrivatePort - b.PrivatePort || a.Type.localeCompare(b.Type),
  );
  return [...new Set(sorted.map(portText))].join(', ');
}

/** Every port (published first), each once; for the tooltip. */
export function allPortsText(ports: readonly Port[] | undefined): string {
  const list = ports ?? [];
  const exposed = [
    ...new Set(
      list
        .filter((p) => p.PublicPort === undefined)
        .sort((a, b) => a.PrivatePort - b.PrivatePort)
        .map(portText),
    ),
  ];
  return [publishedPortsText(list), ...exposed].filter(Boolean).join(', ');
}
