/**
 * The default network's iptables rules: built as data (unit-tested), applied idempotently, and
 * removed exactly. Every rule carries the comment "berth:<bridge>", so `iptables-save` shows which
 * bridge (and so which agent configuration) it belongs to, and nothing else is ever touched.
 *
 *   nat    POSTROUTING  -s SUBNET ! -o BRIDGE  MASQUERADE         outbound traffic gets the
 *                                                                 host's address (NAT)
 *   filter FORWARD      -i BRIDGE             ACCEPT             containers may send anywhere
 *   filter FORWARD      -o BRIDGE  conntrack RELATED,ESTABLISHED  ACCEPT   and get the answers
 *   filter FORWARD      -i BRIDGE -o BRIDGE   ACCEPT             container to container
 *
 * The FORWARD rules are inserted first in the chain (a host whose FORWARD policy is DROP still
 * forwards for the bridge); MASQUERADE is appended. `iptables -C` checks before adding, so a
 * restarted agent adds nothing twice; removal deletes each rule until `-C` says it is gone (at
 * most {@link MAX_DUPLICATES} copies, so a loop cannot run away).
 *
 * Published ports do not use iptables: the agent proxies them in user space (proxy.ts).
 */
import { formatSubnet, type NetworkConfig } from './config';
import { must, run } from './exec';

export interface Rule {
  table: 'nat' | 'filter';
  chain: 'POSTROUTING' | 'FORWARD';
  /** Insert at the top of the chain (else append). */
  first: boolean;
  /** The rule's match and target, without the chain. */
  spec: string[];
}

const MAX_DUPLICATES = 16;

export function ruleComment(bridge: string): string {
  return `berth:${bridge}`;
}

export function buildRules(cfg: Pick<NetworkConfig, 'bridge' | 'subnet'>): Rule[] {
  const c = ['-m', 'comment', '--comment', ruleComment(cfg.bridge)];
  return [
    {
      table: 'nat',
      chain: 'POSTROUTING',
      first: false,
      spec: ['-s', formatSubnet(cfg.subnet), '!', '-o', cfg.bridge, ...c, '-j', 'MASQUERADE'],
    },
    { table: 'filter', chain: 'FORWARD', first: true, spec: ['-i', cfg.bridge, '-o', cfg.bridge, ...c, '-j', 'ACCEPT'] },
    {
      table: 'filter',
      chain: 'FORWARD',
      first: true,
      spec: ['-o', cfg.bridge, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', ...c, '-j', 'ACCEPT'],
    },
    { table: 'filter', chain: 'FORWARD', first: true, spec: ['-i', cfg.bridge, ...c, '-j', 'ACCEPT'] },
  ];
}

/** The iptables argument vectors for `action` (-C check, -I/-A add, -D delete) of `rule`. */
export function ruleArgs(rule: Rule, action: 'check' | 'add' | 'delete'): string[] {
  const verb = action === 'check' ? '-C' : action === 'delete' ? '-D' : rule.first ? '-I' : '-A';
  return ['-w', '5', '-t', rule.table, verb, rule.chain, ...rule.spec];
}

/** Adds the rules that are missing. */
export async function applyRules(rules: readonly Rule[], operation: string): Promise<void> {
  for (const r of rules) {
    if ((await run('iptables', ruleArgs(r, 'check'), operation)).code === 0) continue;
    await must('iptables', ruleArgs(r, 'add'), operation);
  }
}

/** Deletes every copy of the rules; returns how many were deleted. */
export async function removeRules(rules: readonly Rule[], operation: string): Promise<number> {
  let n = 0;
  for (const r of rules) {
    for (let i = 0; i < MAX_DUPLICATES; i++) {
      if ((await run('iptables', ruleArgs(r, 'check'), operation)).code !== 0) break;
      await must('iptables', ruleArgs(r, 'delete'), operation);
      n++;
    }
  }
  return n;
}

/** The lines of `iptables-save` output that carry the bridge's comment (for checks and tests). */
export function rulesInSave(saveOutput: string, bridge: string): string[] {
  const needle = `--comment ${ruleComment(bridge)} `;
  const quoted = `--comment "${ruleComment(bridge)}" `;
  return saveOutput.split('\n').filter((l) => l.startsWith('-A ') && (l.includes(needle) || l.includes(quoted)));
}
