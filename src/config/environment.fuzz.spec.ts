import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { fuzzParameters } from '../../test/support/fuzz';
import { JwtKeys } from '../auth/jwt-keys';
import { ConfigurationError, Environment, parseEnvironment } from './environment';
import { HeraldConfig } from './herald.config';

const variables = Object.keys(new Environment()).filter((name) => /^[A-Z_]+$/.test(name));
/** Values that must never appear in a start-up message: they may be, or carry, credentials. */
const SECRET_VARIABLES = new Set(['JWT_SECRET', 'REDIS_URL', ...variables.filter((name) => /SECRET|PASSWORD/.test(name))]);
const publicKeyPem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();

/** Secrets carry a marker no message could contain by coincidence. */
const SECRET_MARKER = 'Sx9q';

/** Values a person or a template could put in a variable, right and wrong. */
const value = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.integer({ min: -100_000, max: 70_000_000 }).map(String),
  fc.constantFrom('', ' ', '0', '1', '-1', '1.5', '1e3', '0x10', ' 80', '80 ', '٣', '99999999999999999999', 'true', 'TRUE', 'yes', 'no', 'false', 'null', 'undefined'),
  fc.constantFrom('development', 'production', 'test', 'debug', '/ws', '/a b', 'herald:', 'https://app.example.com', 'https://a.example.com,http://localhost:5173', 'https://a.example.com/'),
  fc.constantFrom('redis://localhost:6379', `redis://:${SECRET_MARKER}@redis:6379/0`, 'rediss://u:p@h:99999', 'redis://', 'redis://h:6379/x'),
  fc.constantFrom(publicKeyPem, publicKeyPem.replace(/\n/g, '\\n'), '-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----', '-----BEGIN PUBLIC KEY-----'),
);
/** A secret, and for REDIS_URL a URL carrying one as its password. */
const secretText = fc.string({ unit: 'binary', maxLength: 40 }).map((text) => `${SECRET_MARKER}${text}`);
const secretValue = (name: string) =>
  name === 'REDIS_URL'
    ? fc.oneof(secretText, secretText.map((secret) => `redis://:${encodeURIComponent(secret)}@redis:6379`), secretText.map((secret) => `redis://user:${secret}@redis:port`))
    : secretText;

const environment = fc
  .tuple(
    fc.dictionary(fc.constantFrom(...variables), value, { maxKeys: 6 }),
    fc.subarray([...SECRET_VARIABLES]).chain((names) => fc.tuple(...names.map((name) => secretValue(name).map((secret) => [name, secret] as const)))).map((entries) => Object.fromEntries(entries)),
    fc.dictionary(fc.string({ maxLength: 12 }), fc.string(), { maxKeys: 3 }),
  )
  .map(([known, secrets, unknown]) => ({ ...unknown, ...known, ...secrets }));

/** What start-up builds from a parsed environment next: it must not fail on a value validation let through. */
function startupFrom(env: Environment): void {
  JwtKeys.from(new HeraldConfig(env, () => 'generated-development-secret-0123456789'));
}

describe('parseEnvironment (properties)', () => {
  it('accepts each variable alone or names it, whatever its value', () => {
    fc.assert(
      fc.property(fc.constantFrom(...variables), value, (name, text) => {
        let env: Environment;
        try {
          env = parseEnvironment({ [name]: text });
        } catch (error) {
          expect(error).toBeInstanceOf(ConfigurationError);
          for (const problem of (error as ConfigurationError).problems) expect(problem).toContain(name);
          return;
        }
        expect(() => startupFrom(env)).not.toThrow();
      }),
      fuzzParameters(1000),
    );
  });

  it('returns a configuration Herald can start from, or throws a ConfigurationError naming each bad variable and no secret', () => {
    fc.assert(
      fc.property(environment, (raw) => {
        let env: Environment;
        try {
          env = parseEnvironment(raw);
        } catch (error) {
          expect(error).toBeInstanceOf(ConfigurationError);
          const { problems, message } = error as ConfigurationError;
          expect(problems.length).toBeGreaterThan(0);
          for (const problem of problems) expect(variables.some((name) => problem.includes(name))).toBe(true);
          expect(message).not.toContain(SECRET_MARKER);
          return;
        }
        expect(() => startupFrom(env)).not.toThrow();
      }),
      fuzzParameters(500),
    );
  });
});
