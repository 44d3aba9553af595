/**
 * The typed templates as the built CLI ships them: `render --all` runs with module-load tracing
 * (an ESM resolve hook and, at exit, the CommonJS cache) and must load nothing from node_modules —
 * no AWS SDK, no cloudform-types package index — and the chunks it does load must hold exactly the
 * cloudform-types modules src/templates imports by deep path (and what those require), read from
 * the chunks' source maps.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '../support/cli.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PKG = join(root, 'node_modules/cloudform-types');

/** The cloudform-types files src/templates imports at run time (type-only imports are erased). */
function importedModules(): Set<string> {
  const dir = join(root, 'src/templates');
  const found = new Set<string>();
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.ts'))) {
    for (const m of readFileSync(join(dir, f), 'utf8').matchAll(/^import (?!type )[^;]*? from 'cloudform-types\/([^']+)';$/gm)) found.add(m[1]!);
  }
  return found;
}

/** Those files and everything they require inside the package, as package-relative paths. */
function closure(files: Set<string>): Set<string> {
  const seen = new Set<string>();
  const visit = (rel: string) => {
    if (seen.has(rel)) return;
    seen.add(rel);
    for (const m of readFileSync(join(PKG, rel), 'utf8').matchAll(/require\("(\.{1,2}\/[^"]+)"\)/g)) visit(relative(PKG, resolve(dirname(join(PKG, rel)), m[1]!)) + '.js');
  };
  files.forEach(visit);
  return seen;
}

describe('templates: render as the CLI bundles them', function () {
  this.timeout(60_000);
  let work: string;
  let loaded: string[];

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'catalogctl-bundle-'));
    const trace = join(work, 'trace.txt');
    writeFileSync(trace, '');
    writeFileSync(
      join(work, 'hooks.mjs'),
      "import { appendFileSync } from 'node:fs';\nexport async function resolve(s, c, next) { const r = await next(s, c); appendFileSync(process.env.CATALOG_LOAD_TRACE, r.url + '\\n'); return r; }\n",
    );
    writeFileSync(join(work, 'register.mjs'), "import { register } from 'node:module';\nregister(new URL('./hooks.mjs', import.meta.url));\n");
    writeFileSync(join(work, 'cjs.cjs'), "const fs = require('node:fs');\nprocess.on('exit', () => fs.appendFileSync(process.env.CATALOG_LOAD_TRACE, Object.keys(require.cache).map((f) => 'file://' + f + '\\n').join('')));\n");
    const r = await runCli(['render', '--all', '--out', join(work, 'out')], {
      env: { CATALOG_LOAD_TRACE: trace, NODE_OPTIONS: `--require ${join(work, 'cjs.cjs')} --import ${join(work, 'register.mjs')}` },
    });
    assert.equal(r.code, 0, r.stderr);
    loaded = [...new Set(readFileSync(trace, 'utf8').split('\n').filter(Boolean))].map((u) => (u.startsWith('file://') ? fileURLToPath(u) : u));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  it('loads only the bundle and Node built-ins: no AWS SDK, nothing from node_modules', () => {
    assert.ok(loaded.includes(join(root, 'dist/catalogctl.mjs')), `the trace saw the CLI itself: ${loaded.join(', ')}`);
    assert.deepEqual(loaded.filter((p) => /@aws-sdk|@smithy/.test(p)), []);
    assert.deepEqual(loaded.filter((p) => p.includes('node_modules')), []);
  });

  it('bundles exactly the cloudform-types modules the templates import by deep path, never an index', () => {
    const chunks = loaded.filter((p) => p.startsWith(join(root, 'dist')) && p.endsWith('.mjs'));
    const bundled = new Set<string>();
    for (const chunk of chunks) {
      const map = JSON.parse(readFileSync(`${chunk}.map`, 'utf8')) as { sources: string[] };
      for (const s of map.sources) {
        const at = s.indexOf('node_modules/cloudform-types/');
        if (at >= 0) bundled.add(s.slice(at + 'node_modules/cloudform-types/'.length));
      }
    }
    const expected = closure(importedModules());
    assert.ok(expected.size >= 38, `the templates import the resource classes they use (${expected.size} modules)`);
    assert.deepEqual([...bundled].sort(), [...expected].sort());
    assert.deepEqual([...bundled].filter((s) => /(^|\/)index(\.namespace)?\.js$/.test(s)), []);
  });
});
