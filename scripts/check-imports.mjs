// The import rules, checked by `npm test` (scripts/test.sh) before the tests run:
//
//   cli/        imports only cli/, client/, protocol/   (and `berth agent`'s load of agent/main.ts,
//               which the build splits into dist/agent.js)
//   extension/  imports only extension/, client/, protocol/ (and the inspector panel's message
//               contract with its page, webview/messages.ts)
//   client/     imports only client/, protocol/, agent/oci/, agent/errors.ts
//   protocol/   imports only protocol/
//   webview/    imports only webview/, protocol/
//   agent/      never imports cli/, extension/, client/, webview/; its core (oci, store, registry,
//               images, runtime, builder, workspace, system) never imports a front door (server/,
//               docker/) or the presenters
//   agent/oci/  imports only agent/oci/, agent/errors.ts, protocol/ (the contract's types) and
//               native/ (openat2 for the tree code): the ground floor, which clients may stand on
//   no import cycle among the files of agent/, cli/, extension/, client/ or protocol/
//
// Every module specifier counts: import and `import type`, export-from, require(), import(), and
// `typeof import()` in types (TypeScript's own scanner, ts.preProcessFile, finds them; comments
// and strings are not imports). Package and node: specifiers are not checked; relative ones are
// resolved to files of the tree (x.ts, x.tsx, x.mjs, x.js, x/index.ts).
//
// Usage: node scripts/check-imports.mjs [ROOT]   (ROOT defaults to the repository). Prints one line
// per forbidden edge and one per cycle, and exits 1 if there is any; exits 0 silently otherwise.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const SOURCE = /\.(ts|tsx|mts|cts|mjs|cjs|js)$/;
const TOP = ['agent', 'cli', 'client', 'extension', 'protocol', 'webview'];
const CYCLE_FREE = ['agent', 'cli', 'client', 'extension', 'protocol'];

/** Each rule: the files it governs, and what they may (allow) or must not (deny) import. */
const RULES = [
  {
    from: 'cli/',
    allow: ['cli/', 'client/', 'protocol/'],
    // `berth agent` runs the agent in-process; scripts/build.mjs bundles it apart (dist/agent.js).
    except: [['cli/commands/agent.ts', 'agent/main.ts']],
  },
  {
    from: 'extension/',
    allow: ['extension/', 'client/', 'protocol/'],
    // The layer inspector's panel and its page share one message contract, declared in the page's folder.
    except: [['extension/inspector/LayerInspectorPanel.ts', 'webview/messages.ts']],
  },
  { from: 'client/', allow: ['client/', 'protocol/', 'agent/oci/', 'agent/errors.ts'] },
  { from: 'protocol/', allow: ['protocol/'] },
  { from: 'webview/', allow: ['webview/', 'protocol/'] },
  { from: 'agent/', deny: ['cli/', 'extension/', 'client/', 'webview/'] },
  // The core knows none of its front doors: only the doors (server/, docker/, and main.ts, which
  // opens them) reach the presenters and the doors.
  ...['oci', 'store', 'registry', 'images', 'runtime', 'builder', 'workspace', 'system', 'presenters'].map((d) => ({
    from: `agent/${d}/`,
    deny: d === 'presenters' ? ['agent/server/', 'agent/docker/'] : ['agent/server/', 'agent/docker/', 'agent/presenters/'],
  })),
  { from: 'agent/oci/', allow: ['agent/oci/', 'agent/errors.ts', 'protocol/', 'native/'] },
];

function sourceFiles(root, dir, out = []) {
  const abs = join(root, dir);
  if (!existsSync(abs)) return out;
  for (const e of readdirSync(abs, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) sourceFiles(root, rel, out);
    else if (SOURCE.test(e.name) && !e.name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

/** The tree file a relative specifier names, or undefined (a missing file is the compiler's business). */
function resolveSpecifier(root, fromFile, spec) {
  const base = resolve(root, dirname(fromFile), spec);
  const candidates = [base, `${base}.ts`, `${base}.tsx`, `${base}.mts`, `${base}.mjs`, `${base}.js`, join(base, 'index.ts')];
  for (const c of candidates) {
    if (existsSync(c) && statSync(c).isFile()) return relative(root, c).split('\\').join('/');
  }
  return undefined;
}

/** Every file of the checked folders with the tree files it imports. */
export function importGraph(root) {
  const graph = new Map();
  for (const top of TOP) {
    for (const file of sourceFiles(root, top)) {
      const text = readFileSync(join(root, file), 'utf8');
      const found = ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName);
      const targets = new Set();
      for (const spec of found) {
        if (!spec.startsWith('.')) continue;
        const target = resolveSpecifier(root, file, spec);
        if (target) targets.add(target);
      }
      graph.set(file, [...targets].sort());
    }
  }
  return graph;
}

const under = (file, prefix) => (prefix.endsWith('/') ? file.startsWith(prefix) : file === prefix);

/** "a.ts -> b.ts (why)" for every edge some rule forbids. */
function forbiddenEdges(graph) {
  const out = [];
  for (const [file, targets] of graph) {
    for (const target of targets) {
      for (const rule of RULES) {
        if (!under(file, rule.from)) continue;
        if (rule.except?.some(([f, t]) => f === file && t === target)) continue;
        if (rule.allow && !rule.allow.some((p) => under(target, p)))
          out.push(`forbidden import: ${file} -> ${target} (${rule.from} may import only ${rule.allow.join(', ')})`);
        if (rule.deny?.some((p) => under(target, p)))
          out.push(`forbidden import: ${file} -> ${target} (${rule.from} must not import ${rule.deny.join(', ')})`);
      }
    }
  }
  return out;
}

/** One line per strongly connected set of files (within one folder) with a cycle through it. */
function cycles(graph) {
  const out = [];
  for (const top of CYCLE_FREE) {
    const nodes = [...graph.keys()].filter((f) => f.startsWith(`${top}/`));
    const inTop = new Set(nodes);
    const edges = (f) => graph.get(f).filter((t) => inTop.has(t));
    // Tarjan's strongly connected components, iteratively (deep import chains would overflow the stack).
    const index = new Map();
    const low = new Map();
    const onStack = new Set();
    const stack = [];
    let next = 0;
    for (const start of nodes) {
      if (index.has(start)) continue;
      const work = [[start, 0]];
      index.set(start, next);
      low.set(start, next++);
      stack.push(start);
      onStack.add(start);
      while (work.length) {
        const frame = work[work.length - 1];
        const [v, i] = frame;
        const succ = edges(v);
        if (i < succ.length) {
          frame[1]++;
          const w = succ[i];
          if (!index.has(w)) {
            index.set(w, next);
            low.set(w, next++);
            stack.push(w);
            onStack.add(w);
            work.push([w, 0]);
          } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), index.get(w)));
          continue;
        }
        work.pop();
        if (work.length) {
          const u = work[work.length - 1][0];
          low.set(u, Math.min(low.get(u), low.get(v)));
        }
        if (low.get(v) !== index.get(v)) continue;
        const scc = [];
        let w;
        do {
          w = stack.pop();
          onStack.delete(w);
          scc.push(w);
        } while (w !== v);
        const selfLoop = scc.length === 1 && edges(v).includes(v);
        if (scc.length > 1 || selfLoop) {
          const path = cyclePath(scc, edges);
          const more = scc.length > path.length - 1 ? ` (one of the cycles among ${scc.length} files: ${[...scc].sort().join(', ')})` : '';
          out.push(`import cycle in ${top}/: ${path.join(' -> ')}${more}`);
        }
      }
    }
  }
  return out;
}

/** A shortest cycle through the set's first file (sorted), as a path that ends where it starts. */
function cyclePath(scc, edges) {
  const members = new Set(scc);
  const start = [...scc].sort()[0];
  const prev = new Map([[start, undefined]]);
  const queue = [start];
  while (queue.length) {
    const v = queue.shift();
    for (const w of edges(v)) {
      if (!members.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let x = v; x !== start; x = prev.get(x)) path.splice(1, 0, x);
        return [...path, start];
      }
      if (!prev.has(w)) {
        prev.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start, start];
}

/** The rule violations of the tree at `root`: forbidden edges, then cycles. */
export function checkImports(root) {
  const graph = importGraph(root);
  return [...forbiddenEdges(graph), ...cycles(graph)];
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..'));
  const problems = checkImports(root);
  for (const p of problems) console.error(p);
  if (problems.length) {
    console.error(`check-imports: ${problems.length} problem(s); the rules are in scripts/check-imports.mjs`);
    process.exit(1);
  }
}
