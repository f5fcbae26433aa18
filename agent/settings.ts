/**
 * The agent's own settings file, $BERTH_ROOT/settings.json (optional), plus environment overrides.
 * Hostile-input rules apply: the file is parsed strictly and a bad one is an error naming it.
 *
 *   { "insecureRegistries": ["registry.lan:5000"] }      hosts reached over plain HTTP
 *   { "network": {"bridge": "berth0", "subnet": "10.89.0.0/24"} }   the default network; checked
 *                                                        by runtime/network/config.ts (networkConfig)
 *
 * BERTH_INSECURE_REGISTRIES (comma-separated) adds to the list. Loopback registries (localhost,
 * 127.0.0.0/8, ::1) are always reached over HTTP and need no entry.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BerthError, ErrorCode, systemError } from './errors';

export interface AgentSettings {
  insecureRegistries: string[];
  /** The "network" object as written (validated by networkConfig, with BERTH_BRIDGE/BERTH_SUBNET). */
  network?: { bridge?: unknown; subnet?: unknown };
}

export function readAgentSettings(root: string, env: NodeJS.ProcessEnv = process.env): AgentSettings {
  const path = join(root, 'settings.json');
  const settings: AgentSettings = { insecureRegistries: [] };
  if (existsSync(path)) {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(path, 'utf8'));
    } catch (err) {
      if (err instanceof SyntaxError) {
        throw new BerthError(ErrorCode.InvalidArgument, `settings: ${path} is not valid JSON: ${err.message}`, {
          operation: 'read settings',
          path,
        });
      }
      throw systemError('read settings', err, { path });
    }
    const list = (raw as Record<string, unknown> | null)?.insecureRegistries;
    if (
      list !== undefined &&
      (!Array.isArray(list) || !list.every((h) => typeof h === 'string' && /^[A-Za-z0-9.\-:[\]]{1,255}$/.test(h)))
    ) {
      throw new BerthError(ErrorCode.InvalidArgument, `settings: "insecureRegistries" in ${path} must be a list of host[:port] strings`, {
        operation: 'read settings',
        path,
      });
    }
    settings.insecureRegistries.push(...((list as string[] | undefined) ?? []));
    const network = (raw as Record<string, unknown> | null)?.network;
    if (network !== undefined) settings.network = network as AgentSettings['network'];
  }
  for (const h of (env.BERTH_INSECURE_REGISTRIES ?? '').split(',')) if (h.trim()) settings.insecureRegistries.push(h.trim());
  return settings;
}
