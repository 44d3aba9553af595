import { strict as assert } from 'node:assert';
import { PassThrough } from 'node:stream';
import { listEnvs, loadEnv } from '../../src/config/load.ts';
import { confirm, readAll, readHidden, type PromptIo } from '../../src/cli/prompt.ts';
import { findOperatorSecret, isPlaceholder, MAX_SECRET_BYTES, normalizeSecretValue, OPERATOR_SECRETS, PLACEHOLDER_KEY, secretString } from '../../src/deploy/secrets.ts';
import { InterruptedError, UserInputError } from '../../src/errors.ts';
import { renderEnvironment } from '../../src/templates/index.ts';

const poller = OPERATOR_SECRETS.find((s) => s.logicalId === 'PollerTokenSecret')!;

/** A terminal as far as readHidden can tell: raw mode recorded, output captured. */
function fakeTerminal(): PromptIo & { typed(s: string): void; shown(): string; rawModes: boolean[] } {
  const input = Object.assign(new PassThrough(), { isTTY: true, rawModes: [] as boolean[], setRawMode(raw: boolean) { this.rawModes.push(raw); } });
  const output = new PassThrough();
  let shown = '';
  output.on('data', (d: Buffer) => (shown += d.toString()));
  return { input, output, typed: (s) => input.write(s), shown: () => shown, rawModes: input.rawModes };
}

describe('deploy/secrets: the operator-set secrets and the value read for them', () => {
  it('the value: one trailing newline removed, once; empty, multi-line or oversized values refused (exit 2)', () => {
    assert.equal(normalizeSecretValue(poller, 'tok'), 'tok');
    assert.equal(normalizeSecretValue(poller, 'tok\n'), 'tok');
    assert.equal(normalizeSecretValue(poller, 'tok\r\n'), 'tok');
    assert.equal(normalizeSecretValue(poller, '  tok with spaces '), '  tok with spaces ', 'nothing else is trimmed');
    const refused = (raw: string, re: RegExp) => assert.throws(() => normalizeSecretValue(poller, raw), (e: unknown) => e instanceof UserInputError && re.test(e.message));
    refused('', /is empty/);
    refused('\n', /is empty/);
    refused('tok\n\n', /spans several lines/);
    refused('a\nb', /spans several lines/);
    refused('x'.repeat(MAX_SECRET_BYTES), /over Secrets Manager's 65536-byte limit/);
    assert.equal(secretString(poller, 'tok'), '{"token":"tok"}');
  });

  it('a placeholder is a JSON value carrying the marker key; what `secrets set` stores never is', () => {
    assert.equal(isPlaceholder(JSON.stringify({ [PLACEHOLDER_KEY]: 'set me', token: 'generated' })), true);
    assert.equal(isPlaceholder(secretString(poller, 'tok')), false);
    assert.equal(isPlaceholder(secretString(poller, PLACEHOLDER_KEY)), false, 'a value that happens to be the marker is not a key');
    assert.equal(isPlaceholder('plain-token'), false);
    assert.equal(isPlaceholder(undefined), false);
  });

  it('names: the operator-set ones; the rotated and the removed ones refused with why; a typo gets "did you mean"', () => {
    assert.equal(findOperatorSecret('PollerTokenSecret'), poller);
    const refused = (name: string, message: string) => assert.throws(() => findOperatorSecret(name), (e: unknown) => e instanceof UserInputError && e.message === message);
    refused('AppDbSecret', 'secrets set: AppDbSecret is not set by hand: it is the application database user, rotated by Secrets Manager (multi-user rotation); setting it by hand would break the database login');
    refused('JwtKeysSecret', 'secrets set: JwtKeysSecret is not set by hand: JWT verification keys are public and the authorizer fetches them from auth.jwksUri; nothing read it, and catalog-secrets no longer creates it');
    refused('PollerTokenSecert', 'secrets set: unknown secret "PollerTokenSecert"; did you mean PollerTokenSecret? (secrets set by hand: PollerTokenSecret)');
    refused('appdbsecret', 'secrets set: unknown secret "appdbsecret"; did you mean AppDbSecret? (secrets set by hand: PollerTokenSecret)');
    refused('DatabasePassword', 'secrets set: unknown secret "DatabasePassword" (secrets set by hand: PollerTokenSecret)');
  });

  it("every env's catalog-secrets has each operator-set secret, its ARN Output, and generates the key the value is stored under", async () => {
    for (const env of await listEnvs()) {
      const t = renderEnvironment(await loadEnv(env))['catalog-secrets.json'] as {
        Resources: Record<string, { Type: string; Properties: { GenerateSecretString?: { GenerateStringKey?: string } } }>;
        Outputs: Record<string, { Value: unknown }>;
      };
      for (const s of OPERATOR_SECRETS) {
        assert.equal(t.Resources[s.logicalId]?.Type, 'AWS::SecretsManager::Secret', `${env} ${s.logicalId}`);
        assert.deepEqual(t.Outputs[s.output]?.Value, { Ref: s.logicalId }, `${env} ${s.output}`);
        assert.equal(t.Resources[s.logicalId]!.Properties.GenerateSecretString?.GenerateStringKey, s.jsonKey, `${env} ${s.logicalId}`);
      }
    }
  });
});

describe('cli/prompt: a value typed on a terminal is not echoed; questions end on no', () => {
  it('reads a hidden line in raw mode: nothing typed reaches the screen, backspace edits, raw mode is restored', async () => {
    const t = fakeTerminal();
    const value = readHidden('Value for PollerTokenSecret (not echoed): ', t);
    t.typed('s3crx\u007fet');
    t.typed('\r');
    assert.equal(await value, 's3cret');
    assert.equal(t.shown(), 'Value for PollerTokenSecret (not echoed): \n');
    assert.deepEqual(t.rawModes, [true, false]);
  });

  it('Ctrl-C while typing is an interruption (exit 130) with raw mode restored', async () => {
    const t = fakeTerminal();
    const value = readHidden('? ', t);
    t.typed('abc\u0003');
    await assert.rejects(value, (e: unknown) => e instanceof InterruptedError);
    assert.deepEqual(t.rawModes, [true, false]);
  });

  it('confirm: y or yes is yes; anything else, or the end of input, is no', async () => {
    const ask = async (answer: string | undefined) => {
      const input = new PassThrough();
      const output = new PassThrough();
      const q = confirm('Deploy? [y/N] ', { input, output });
      if (answer === undefined) input.end();
      else input.write(answer);
      return q;
    };
    assert.equal(await ask('y\n'), true);
    assert.equal(await ask('YES\n'), true);
    assert.equal(await ask('n\n'), false);
    assert.equal(await ask('yep\n'), false);
    assert.equal(await ask(undefined), false);
  });

  it('stdin read whole, refusing more than the cap', async () => {
    const s = new PassThrough();
    s.end('abc\n');
    assert.equal(await readAll(s, 10, 'x'), 'abc\n');
    const big = new PassThrough();
    big.end('x'.repeat(11));
    await assert.rejects(readAll(big, 10, 'secrets set'), (e: unknown) => e instanceof UserInputError && e.message === 'secrets set: more than 10 bytes on stdin');
  });
});
