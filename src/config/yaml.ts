/**
 * YAML text → a Document (for positions) and plain data, within budgets, with every syntax problem
 * at the place the broken token starts. The concrete syntax tree comes first (the `yaml` parser is
 * a loop, not a recursion): nesting, node count and entries per collection are checked on it before
 * the recursive composer runs, so a hostile file can neither exhaust the stack nor take quadratic
 * time on duplicate-key checks. Aliases are resolved here once, with an expansion budget, so an
 * undefined alias, an alias to its own ancestor or an alias bomb is an error naming the file.
 */
import { Composer, isAlias, isMap, isPair, isSeq, LineCounter, Parser, type CST, type Document, type Node as YamlNode } from 'yaml';
import { EnvFileError, type EnvProblem } from './errors.ts';

/** Env files nest 4 deep; anything near this is a mistake or an attack. */
export const MAX_DEPTH = 32;
/** YAML nodes in one file (an env file has about 200). */
export const MAX_NODES = 10_000;
/** Entries in one mapping or sequence. */
export const MAX_ENTRIES = 1_000;
/** Nodes after expanding every alias. */
export const MAX_EXPANDED_NODES = 10_000;

export interface ParsedYaml {
  doc: Document;
  lineCounter: LineCounter;
  text: string;
  data: unknown;
}

type Token = CST.Token;

interface Open {
  kind: 'quote' | 'flow';
  offset: number;
  /** The character that opens it: `"`, `'`, `[` or `{`. */
  opener: string;
}

/** A quoted scalar whose closing quote is missing, judged from its source text. */
function unclosedQuote(source: string): boolean {
  const q = source[0];
  if (source.length < 2 || source[source.length - 1] !== q) return true;
  const body = source.slice(1, -1);
  if (q === '"') return /(^|[^\\])(\\\\)*\\$/.test(body); // the last quote is escaped
  return /(^|[^'])('')*'$/.test(body); // an odd run of quotes: the last one is an escaped ''
}

interface Budget {
  nodes: number;
  problem?: { offset: number; detail: string };
  open: Open[];
}

/** Walks the CST without recursion, counting nodes and depth and noting unterminated tokens. */
function checkCst(tokens: readonly Token[]): Budget {
  const budget: Budget = { nodes: 0, open: [] };
  const stack: [Token | undefined, number][] = tokens.map((t) => [t, 0]);
  stack.reverse();
  const fail = (offset: number, detail: string) => {
    budget.problem ??= { offset, detail };
  };
  while (stack.length && !budget.problem) {
    const [tok, depth] = stack.pop()!;
    if (!tok) continue;
    switch (tok.type) {
      case 'document':
        stack.push([tok.value, depth]);
        break;
      case 'block-map':
      case 'block-seq':
      case 'flow-collection': {
        budget.nodes++;
        const offset = tok.type === 'flow-collection' ? tok.start.offset : tok.offset;
        if (depth >= MAX_DEPTH) fail(offset, `nested more than ${MAX_DEPTH} levels deep`);
        const isList = tok.type === 'block-seq' || (tok.type === 'flow-collection' && tok.start.source === '[');
        if (tok.items.length > MAX_ENTRIES) fail(offset, `more than ${MAX_ENTRIES} entries in one ${isList ? 'list' : 'mapping'}`);
        if (tok.type === 'flow-collection') {
          const closer = tok.start.source === '[' ? ']' : '}';
          if (!tok.end.some((t) => t.source === closer)) budget.open.push({ kind: 'flow', offset, opener: tok.start.source });
        }
        for (let i = tok.items.length - 1; i >= 0; i--) {
          const item = tok.items[i]! as { key?: Token | null; value?: Token | null };
          stack.push([item.value ?? undefined, depth + 1], [item.key ?? undefined, depth + 1]);
        }
        break;
      }
      case 'single-quoted-scalar':
      case 'double-quoted-scalar':
        budget.nodes++;
        if (unclosedQuote(tok.source)) budget.open.push({ kind: 'quote', offset: tok.offset, opener: tok.source[0]! });
        break;
      case 'scalar':
      case 'block-scalar':
      case 'alias':
        budget.nodes++;
        break;
      default:
        break;
    }
    if (budget.nodes > MAX_NODES) fail((tok as { offset?: number }).offset ?? 0, `more than ${MAX_NODES} YAML nodes`);
  }
  return budget;
}

/** A composer error, moved to where the unterminated quote or bracket it complains about starts. */
function relocate(code: string, message: string, offset: number, open: readonly Open[]): { offset: number; detail: string } {
  const first = message.split('\n')[0]!.replace(/ at line \d+, column \d+.*$/, '');
  const kind = code === 'MISSING_CHAR' && /quote/i.test(first) ? 'quote' : /^Flow (sequence|map)/.test(first) || /end with a [\]}]/.test(first) ? 'flow' : undefined;
  if (kind) {
    const opened = open.filter((o) => o.kind === kind && o.offset <= offset).sort((a, b) => b.offset - a.offset)[0];
    if (opened) {
      const what = kind === 'quote' ? `${opened.opener}-quoted string` : opened.opener === '[' ? 'flow sequence [' : 'flow mapping {';
      const closer = kind === 'quote' ? opened.opener : opened.opener === '[' ? ']' : '}';
      return { offset: opened.offset, detail: `YAML: this ${what} is never closed (no matching ${closer})` };
    }
  }
  return { offset, detail: `YAML: ${first}` };
}

/**
 * Every alias resolved the way `yaml` resolves it (the last anchor of that name before it), with
 * the document's size after expansion; problems for undefined and self-containing aliases.
 */
function checkAliases(doc: Document, fail: (node: YamlNode, detail: string) => void): void {
  const anchors = new Map<string, YamlNode>();
  const sizes = new Map<YamlNode, number>();
  const inProgress = new Set<YamlNode>();
  let expanded = 0;
  let stopped = false;
  const visit = (node: unknown): number => {
    if (stopped || !node || typeof node !== 'object') return 0;
    if (isAlias(node)) {
      const target = anchors.get(node.source);
      if (!target) {
        fail(node, `YAML: undefined alias *${node.source} (no &${node.source} before it)`);
        return 1;
      }
      if (inProgress.has(target)) {
        fail(node, `YAML: alias *${node.source} points into its own anchor &${node.source}`);
        return 1;
      }
      const size = sizes.get(target) ?? 1;
      expanded += size;
      if (expanded > MAX_EXPANDED_NODES) {
        fail(node, `YAML: aliases expand the document past ${MAX_EXPANDED_NODES} nodes`);
        stopped = true;
      }
      return size;
    }
    const n = node as YamlNode;
    if (n.anchor) anchors.set(n.anchor, n);
    expanded++;
    inProgress.add(n);
    let size = 1;
    if (isMap(n) || isSeq(n)) {
      for (const item of n.items as unknown[]) {
        if (isPair(item)) size += visit(item.key) + visit(item.value);
        else size += visit(item);
      }
    }
    inProgress.delete(n);
    sizes.set(n, size);
    return size;
  };
  visit(doc.contents);
}

/** 1-based line and column in code points (the line counter's columns are UTF-16 units). */
export function linePos(lc: LineCounter, text: string, offset: number): { line: number; col: number } {
  const { line } = lc.linePos(offset);
  const start = lc.lineStarts[line - 1] ?? 0;
  return { line, col: [...text.slice(start, offset)].length + 1 };
}

/** Parses env-file text; throws an EnvFileError listing every problem found (positions in `shown`). */
export function parseYaml(text: string, shown: string): ParsedYaml {
  const lineCounter = new LineCounter();
  const tokens = [...new Parser(lineCounter.addNewLine).parse(text)];
  const at = (offset: number, detail: string): EnvProblem => ({ file: shown, ...linePos(lineCounter, text, offset), keyPath: '', detail });
  const budget = checkCst(tokens);
  if (budget.problem) throw new EnvFileError([at(budget.problem.offset, `YAML: ${budget.problem.detail}`)]);

  const docs = [...new Composer({ uniqueKeys: true, strict: true, prettyErrors: false }).compose(tokens, true, text.length)];
  const doc = docs[0]!;
  const problems: EnvProblem[] = [];
  const seen = new Set<string>();
  for (const e of [...doc.errors, ...doc.warnings]) {
    const { offset, detail } = relocate(e.code, e.message, e.pos[0], budget.open);
    const p = at(offset, detail);
    const key = `${p.line}:${p.col}:${p.detail}`;
    if (!seen.has(key)) problems.push(p);
    seen.add(key);
  }
  if (docs.length > 1) problems.push(at(docs[1]!.range[0], 'YAML: more than one document (---): an env file is one mapping'));
  if (problems.length) throw new EnvFileError(problems.sort((a, b) => a.line - b.line || a.col - b.col));

  checkAliases(doc, (node, detail) => problems.push(at(node.range?.[0] ?? 0, detail)));
  if (problems.length) throw new EnvFileError(problems.sort((a, b) => a.line - b.line || a.col - b.col));

  let data: unknown;
  try {
    // Aliases were budgeted above; yaml's own heuristic would refuse legitimate reuse.
    data = doc.toJS({ maxAliasCount: -1 });
  } catch (err) {
    throw new EnvFileError([at(0, `YAML: ${(err as Error).message.split('\n')[0]}`)]);
  }
  return { doc, lineCounter, text, data };
}

