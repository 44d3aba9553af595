/**
 * Proves each deliberate mistake in ./type-errors.ts is a type error, and the one it says: the file
 * compiles clean as written (every `@ts-expect-error` meets an error), and with each directive
 * removed in turn exactly one error appears, on the line below it, with the code in its [TSxxxx]
 * tag. All variants are checked in one TypeScript program with the project's compiler options.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const here = dirname(fileURLToPath(import.meta.url));
const MISTAKES = join(here, 'type-errors.ts');
const DIRECTIVE = /^\s*\/\/ @ts-expect-error \[TS(\d+)\] (.+)$/;

interface Expectation {
  line: number; // 0-based line of the directive; the error is expected on line + 1
  code: number;
  what: string;
}

function compilerOptions(): ts.CompilerOptions {
  const root = resolve(here, '../..');
  const file = ts.readConfigFile(join(root, 'tsconfig.json'), ts.sys.readFile);
  return ts.parseJsonConfigFileContent(file.config, ts.sys, root).options;
}

/** Diagnostics per virtual file, all files type-checked in one program beside the real one. */
function diagnose(files: Map<string, string>): Map<string, readonly ts.Diagnostic[]> {
  const options = compilerOptions();
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (f) => files.has(f) || fileExists.call(host, f);
  host.readFile = (f) => files.get(f) ?? readFile.call(host, f);
  host.getSourceFile = (f, lang, ...rest) => (files.has(f) ? ts.createSourceFile(f, files.get(f)!, lang, true) : getSourceFile.call(host, f, lang, ...rest));
  const program = ts.createProgram([...files.keys()], options, host);
  return new Map([...files.keys()].map((f) => {
    const sf = program.getSourceFile(f)!;
    return [f, [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)]];
  }));
}

const describeDiagnostic = (d: ts.Diagnostic) => {
  const line = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line + 1 : '?';
  return `line ${line} TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
};
const lineOf = (d: ts.Diagnostic) => (d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : -1);

describe('templates: the types reject deliberate mistakes (type-errors.ts)', function () {
  this.timeout(120_000);
  const source = readFileSync(MISTAKES, 'utf8');
  const lines = source.split('\n');
  const expectations: Expectation[] = lines.flatMap((text, line) => {
    const m = DIRECTIVE.exec(text);
    return m ? [{ line, code: Number(m[1]), what: m[2]! }] : [];
  });
  const variant = (e: Expectation) => join(here, `type-errors.without-${e.line + 1}.ts`);
  let results: Map<string, readonly ts.Diagnostic[]>;

  before(() => {
    const files = new Map<string, string>([[join(here, 'type-errors.as-written.ts'), source]]);
    for (const e of expectations) files.set(variant(e), lines.map((t, i) => (i === e.line ? '//' : t)).join('\n'));
    // A directive over a line with no error: the harness must see it as unused (TS2578).
    files.set(join(here, 'type-errors.unused-directive.ts'), "// @ts-expect-error [TS0] nothing wrong below\nexport const fine: string = 'x';\n");
    results = diagnose(files);
  });

  it('tags every @ts-expect-error with the code it expects, one mistake each (at least the kinds the issue names)', () => {
    assert.equal(expectations.length, (source.match(/@ts-expect-error/g) ?? []).length - 1, 'every directive carries a [TSxxxx] tag (the header mentions one)');
    const kinds = expectations.map((e) => e.what).join('\n');
    for (const kind of ['misspelled property', 'a number where', 'property of another resource type', 'missing required property']) assert.match(kinds, new RegExp(kind), kind);
  });

  it('compiles clean as written: every directive meets an error', () => {
    assert.deepEqual(results.get(join(here, 'type-errors.as-written.ts'))!.map(describeDiagnostic), []);
  });

  it('sees a directive with nothing to suppress (so the check above can fail)', () => {
    assert.deepEqual(results.get(join(here, 'type-errors.unused-directive.ts'))!.map((d) => d.code), [2578]);
  });

  it('gives each mistake, unsuppressed, exactly its own error', () => {
    const wrong: string[] = [];
    for (const e of expectations) {
      const got = results.get(variant(e))!;
      const ok = got.length === 1 && got[0]!.code === e.code && lineOf(got[0]!) === e.line + 1;
      if (!ok) wrong.push(`type-errors.ts:${e.line + 2} ${e.what}: expected TS${e.code} on that line, got ${got.length ? got.map(describeDiagnostic).join('; ') : 'no error'}`);
    }
    assert.deepEqual(wrong, []);
  });
});
