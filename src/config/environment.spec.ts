import { generateKeyPairSync } from 'node:crypto';
import { getMetadataStorage } from 'class-validator';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigurationError, Environment, parseEnvironment } from './environment';
import { HeraldConfig } from './herald.config';

// Every variable class-validator checks, optional ones without a default included (an instance's
// keys would miss those); lower-case names are cross-field rules, not variables.
const checked = getMetadataStorage().getTargetValidationMetadatas(Environment, '', true, false).map((rule) => rule.propertyName);
const variables = [...new Set(checked)].filter((name) => /^[A-Z][A-Z0-9_]+$/.test(name));

describe('parseEnvironment', () => {
  it('applies the documented defaults', () => {
    const env = parseEnvironment({});
    expect(env).toMatchObject({ NODE_ENV: 'development', PORT: 3000, WS_PATH: '/ws', HEARTBEAT_MS: 25000, HISTORY_SIZE: 100, HISTORY_TTL_S: 600, RATE_LIMIT_PER_S: 20, REDIS_PREFIX: 'herald:', REDIS_COMMAND_TIMEOUT_MS: 2000, WS_COMPRESSION: false, WS_COMPRESSION_MIN_BYTES: 1024, MAX_BATCH_PUBLISH_BYTES: 1_048_576, V8_NEW_SPACE_MAX_MB: 16, REDIS_REPLAY_SIZE: 32, REDIS_BATCH_WINDOW_MS: 50, INBOX_MEMORY_MAX_MB: 128, MAX_CONNECTIONS_PER_USER: 0, LISTEN_BACKLOG: 4096 });
  });

  it('reads an empty value as unset, for every variable: the default applies', () => {
    const empty = Object.fromEntries(Object.keys(new Environment()).map((name) => [name, '']));
    expect(parseEnvironment(empty)).toEqual(parseEnvironment({}));
  });

  it('converts numbers and booleans', () => {
    expect(parseEnvironment({ PORT: '8080', DEMO_ENABLED: 'false' })).toMatchObject({ PORT: 8080, DEMO_ENABLED: false });
    expect(parseEnvironment({ WS_COMPRESSION: 'true', WS_COMPRESSION_MIN_BYTES: '0' })).toMatchObject({ WS_COMPRESSION: true, WS_COMPRESSION_MIN_BYTES: 0 });
  });

  it('reads an on/off setting as true, 1 or yes and false, 0 or no in any case, and names what it reads when refusing another word', () => {
    for (const word of ['true', 'TRUE', '1', 'Yes']) expect(parseEnvironment({ WS_COMPRESSION: word }).WS_COMPRESSION).toBe(true);
    for (const word of ['false', 'False', '0', 'NO']) expect(parseEnvironment({ WS_COMPRESSION: word }).WS_COMPRESSION).toBe(false);
    expect(() => parseEnvironment({ WS_COMPRESSION: 'on' })).toThrow('WS_COMPRESSION must be true or false (1 or 0, yes or no also read, in any case)');
  });

  it.each([
    ['PORT', 'eighty'],
    ['HEARTBEAT_MS', '-1'],
    ['REDIS_REPLAY_SIZE', '-1'],
    ['REDIS_REPLAY_SIZE', '1001'],
    ['MAX_CONNECTIONS_PER_USER', '-1'],
    ['MAX_CONNECTIONS_PER_USER', 'ten'],
    ['LISTEN_BACKLOG', '0'],
    ['LISTEN_BACKLOG', '65536'],
    ['LISTEN_BACKLOG', 'many'],
    ['NODE_ENV', 'staging'],
    ['REDIS_URL', 'http://redis'],
    ['REDIS_URL', 'redis://h:notaport'],
    ['REDIS_URL', 'redis://redis:6379/zero'],
    ['REDIS_URL', 'redis://user:PW%SECRET@redis:6379'],
    ['REDIS_URL', 'redis://%zz@redis:6379'],
    ['JWT_SECRET', 'short'],
    ['WS_PATH', 'ws'],
    ['WS_PATH', '/ws/'],
    ['WS_PATH', '//x'],
    ['WS_PATH', '/../x'],
    ['WS_PATH', '/a/./b'],
    ['DEMO_ENABLED', 'maybe'],
    ['WS_COMPRESSION', 'maybe'],
    ['WS_COMPRESSION_MIN_BYTES', '-1'],
    ['CLOSE_TIMEOUT_MS', '10'],
    ['HTTP_HEADERS_TIMEOUT_MS', '999'],
    ['HISTORY_TTL_S', '99999999999999999999'],
    ['HISTORY_TTL_S', '2592001'],
    ['DRAIN_DELAY_MS', '99999999999'],
    ['DRAIN_SPREAD_MS', '600001'],
    ['MAX_CONNECTIONS', '1e20'],
    ['SEND_BUFFER_LIMIT_BYTES', '100000000000'],
    ['PRESENCE_EVENTS_MAX_USERS', '100000000000000000000'],
    ['JWT_SECRET', '                    '],
    ['REDIS_PREFIX', '{h}:'],
    ['HTTP_HEADERS_TIMEOUT_MS', '300001'],
    ['HTTP_HEADERS_TIMEOUT_MS', '10s'],
    ['HTTP_REQUEST_TIMEOUT_MS', '999'],
    ['HTTP_REQUEST_TIMEOUT_MS', '600001'],
    ['HTTP_REQUEST_TIMEOUT_MS', '5000'],
    ['MAX_BATCH_PUBLISH_BYTES', '100'],
    ['REDIS_COMMAND_TIMEOUT_MS', '50'],
    ['REDIS_COMMAND_TIMEOUT_MS', 'soon'],
    ['V8_NEW_SPACE_MAX_MB', '-1'],
    ['V8_NEW_SPACE_MAX_MB', '2048'],
    ['INBOX_MEMORY_MAX_MB', '0'],
    ['HISTORY_MEMORY_MAX_MB', '0'],
    ['HISTORY_MEMORY_MAX_MB', '1048577'],
    ['INBOX_MEMORY_MAX_MB', '1.5'],
    ['INBOX_MEMORY_MAX_MB', '128MB'],
  ])('names %s when it is invalid', (name, value) => {
    expect(() => parseEnvironment({ [name]: value })).toThrow(ConfigurationError);
    expect(() => parseEnvironment({ [name]: value })).toThrow(name);
  });

  it('takes a request timeout no shorter than the headers timeout', () => {
    expect(parseEnvironment({ HTTP_HEADERS_TIMEOUT_MS: '20000', HTTP_REQUEST_TIMEOUT_MS: '20000' }).HTTP_REQUEST_TIMEOUT_MS).toBe(20000);
    expect(() => parseEnvironment({ HTTP_HEADERS_TIMEOUT_MS: '20000', HTTP_REQUEST_TIMEOUT_MS: '19999' })).toThrow(/HTTP_REQUEST_TIMEOUT_MS must not be below HTTP_HEADERS_TIMEOUT_MS/);
  });

  it('defaults the request timeout to 30 s, or to a longer headers timeout, so raising that alone still starts', () => {
    expect(parseEnvironment({}).httpRequestTimeoutMs).toBe(30_000);
    expect(parseEnvironment({ HTTP_HEADERS_TIMEOUT_MS: '20000' }).httpRequestTimeoutMs).toBe(30_000);
    expect(parseEnvironment({ HTTP_HEADERS_TIMEOUT_MS: '60000' }).httpRequestTimeoutMs).toBe(60_000);
    expect(parseEnvironment({ HTTP_HEADERS_TIMEOUT_MS: '60000', HTTP_REQUEST_TIMEOUT_MS: '90000' }).httpRequestTimeoutMs).toBe(90_000);
  });

  it('names a number that is not one once, without range messages that contradict it', () => {
    expect(() => parseEnvironment({ PORT: 'abc' })).toThrow(new ConfigurationError(['PORT must be an integer number']));
    expect(() => parseEnvironment({ PORT: '70000' })).toThrow(new ConfigurationError(['PORT must not be greater than 65535']));
  });

  it('refuses an INTERNAL_PORT equal to PORT by name, and takes another or two ephemeral ones', () => {
    expect(() => parseEnvironment({ PORT: '8080', INTERNAL_PORT: '8080' })).toThrow(
      new ConfigurationError(['INTERNAL_PORT must differ from PORT: it moves the service-facing endpoints to a port of their own (unset it to serve them on PORT)']),
    );
    expect(() => parseEnvironment({ INTERNAL_PORT: '3000' })).toThrow(/INTERNAL_PORT must differ from PORT/);
    expect(parseEnvironment({ PORT: '8080', INTERNAL_PORT: '9090' }).INTERNAL_PORT).toBe(9090);
    expect(parseEnvironment({ PORT: '0', INTERNAL_PORT: '0' }).INTERNAL_PORT).toBe(0);
  });

  it.each(['app.example.com', 'https://app.example.com/', 'https://app.example.com/path', 'ftp://files.example.com', 'https://a.example.com,b.example.com', 'https://*.example.com', 'https://*', ' ', ',', ' , '])(
    'refuses ALLOWED_ORIGINS entry %s, which no browser Origin could match',
    (value) => {
      expect(() => parseEnvironment({ ALLOWED_ORIGINS: value })).toThrow(/ALLOWED_ORIGINS must be comma-separated origins/);
    },
  );

  it.each(['not a host', 'http://0.0.0.0', '127.0.0.1:3000', '-bad.example'])('refuses HOST %j, which listen() could never bind', (value) => {
    expect(() => parseEnvironment({ HOST: value })).toThrow(/HOST must be an IP address/);
  });

  it.each(['0.0.0.0', '::', '127.0.0.1', 'localhost', 'herald.internal', '::1'])('accepts HOST %s', (value) => {
    expect(parseEnvironment({ HOST: value }).HOST).toBe(value);
  });

  it('accepts origins with ports and spaces around commas', () => {
    const value = 'https://app.example.com, http://localhost:5173';
    expect(parseEnvironment({ ALLOWED_ORIGINS: value }).ALLOWED_ORIGINS).toBe(value);
  });

  it('refuses a Redis URL whose password has a stray %, naming the variable and not the password', () => {
    expect(() => parseEnvironment({ REDIS_URL: 'redis://user:PW%SECRET@redis:6379' })).toThrow('a % in the user name or password written as %25');
    expect(() => parseEnvironment({ REDIS_URL: 'redis://user:PW%SECRET@redis:6379' })).not.toThrow('PW%SECRET');
  });

  it.each([
    [{ REDIS_URL: 'redis://redis:0' }, 'REDIS_URL must be a redis:// or rediss:// URL with a host and, if any, a port of 1 to 65535'],
    [{ REDIS_URL: 'rediss://user:pw@redis:00/1' }, 'REDIS_URL must be a redis:// or rediss:// URL with a host and, if any, a port of 1 to 65535'],
    [{ REDIS_CLUSTER_NODES: 'redis://a:6379,redis://b:0' }, 'REDIS_CLUSTER_NODES must be comma-separated redis:// or rediss:// URLs (all of one scheme, ports of 1 to 65535'],
    [{ WEBHOOK_URL: 'http://backend.example:0/herald', HOOKS_SECRET: 'sixteen-chars-ok' }, 'WEBHOOK_URL must be an http:// or https:// URL with a host and, if any, a port of 1 to 65535'],
    [{ JOIN_PROXY_URL: 'https://backend.example:0/join', JOIN_PROXY_ROOMS: 'doc:*', HOOKS_SECRET: 'sixteen-chars-ok' }, 'JOIN_PROXY_URL must be an http:// or https:// URL with a host and, if any, a port of 1 to 65535'],
  ])('refuses a URL with port 0, which no connection or request reaches, naming the variable: %j', (raw, message) => {
    expect(() => parseEnvironment(raw)).toThrow(message);
  });

  it('accepts Redis URLs with credentials, TLS and a database', () => {
    for (const url of ['redis://localhost', 'redis://:pw@redis:6379/0', 'rediss://user:p%40ss@redis.example.com:6380']) {
      expect(parseEnvironment({ REDIS_URL: url }).REDIS_URL).toBe(url);
    }
  });

  it('refuses a JWT_PUBLIC_KEY that only looks like PEM, or is no RSA or EC key, and accepts one written on one line, its \\n escapes read as newlines', () => {
    const pem = (type: 'ec' | 'ed25519') =>
      (type === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519')).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const rsa = (bits: number) => generateKeyPairSync('rsa', { modulusLength: bits });
    const weak = rsa(1024).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const privateKey = rsa(2048).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    // P-384 and a 1024-bit RSA key could never verify an ES256 or RS256 token; a private key has no place here.
    for (const value of ['-----BEGIN PUBLIC KEY-----', '-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----', pem('ed25519'), p384, weak, privateKey]) {
      expect(() => parseEnvironment({ JWT_PUBLIC_KEY: value })).toThrow(new ConfigurationError(['JWT_PUBLIC_KEY must be a PEM public key: RSA of 2048 bits or more (RS256) or EC on P-256 (ES256), not a private key']));
    }
    expect(parseEnvironment({ JWT_PUBLIC_KEY: rsa(2048).publicKey.export({ type: 'spki', format: 'pem' }).toString() }).JWT_PUBLIC_KEY).toContain('BEGIN PUBLIC KEY');
    const ec = pem('ec');
    const oneLine = ec.replace(/\n/g, '\\n');
    expect(parseEnvironment({ JWT_PUBLIC_KEY: oneLine }).JWT_PUBLIC_KEY).toBe(ec);
    expect(new HeraldConfig(parseEnvironment({ JWT_PUBLIC_KEY: oneLine }), () => 'unused').jwt.publicKey).toBe(ec);
  });

  it('refuses a JWT_PUBLIC_KEY of two keys (a rotation bundle) or with text around its key: only the first key would verify', () => {
    const pem = (curve: 'P-256' | 'rsa') =>
      (curve === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: curve })).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const ec = pem('P-256');
    const oneKey = 'JWT_PUBLIC_KEY must hold exactly one PEM public key, one BEGIN/END block with nothing before or after it: Herald verifies with one key and would ignore the rest';
    for (const value of [ec + pem('rsa'), ec + pem('P-256'), `${ec}garbage`, `${ec}\n-----BEGIN PUBLIC KEY-----\n`, `# key of 2026\n${ec}`, (ec + pem('rsa')).replace(/\n/g, '\\n')]) {
      expect(() => parseEnvironment({ JWT_PUBLIC_KEY: value })).toThrow(new ConfigurationError([oneKey]));
    }
    // Whitespace around the block is what files and YAML block scalars add.
    expect(parseEnvironment({ JWT_PUBLIC_KEY: `\n${ec}\n\n` }).JWT_PUBLIC_KEY).toBe(`\n${ec}\n\n`);
  });

  it.each([
    ['JWT_SECRET', 'replace-with-at-least-32-random-characters'],
    ['JWT_SECRET', '<replace-with-at-least-32-random-bytes>'],
    ['JWT_SECRET', 'tour-secret-0123456789abcdef'],
    ['JWT_SECRET', 'two-pods-on-my-machine-0123'],
    ['HOOKS_SECRET', 'a-long-random-string-shared-with-the-backend'],
    ['HOOKS_SECRET', 'change-me-to-another-long-random-string'],
  ])('refuses %s set to the published example %s in production, and only there', (name, value) => {
    const env = { JWT_SECRET: 'a-long-enough-secret-of-my-own', [name]: value, ...(name === 'HOOKS_SECRET' ? { WEBHOOK_URL: 'https://backend.example/herald' } : {}) };
    expect(() => parseEnvironment({ ...env, NODE_ENV: 'production' })).toThrow(new ConfigurationError([`${name} ${"is an example value from Herald's docs or deploy files, which anyone can read: in production set a random one of your own (openssl rand -base64 48)"}`]));
    expect(() => parseEnvironment(env)).not.toThrow();
  });

  it('refuses REDIS_MIN_REPLICAS without Redis, and takes 0', () => {
    expect(() => parseEnvironment({ REDIS_MIN_REPLICAS: '1' })).toThrow(new ConfigurationError(['REDIS_MIN_REPLICAS applies only with Redis (REDIS_URL, REDIS_CLUSTER_NODES or REDIS_SENTINELS): the embedded broker has no replicas']));
    expect(parseEnvironment({ REDIS_MIN_REPLICAS: '0' }).REDIS_MIN_REPLICAS).toBe(0);
    expect(parseEnvironment({ REDIS_MIN_REPLICAS: '1', REDIS_URL: 'redis://localhost' }).REDIS_MIN_REPLICAS).toBe(1);
  });

  it('accepts WS_PATH as a plain path, the root included', () => {
    for (const path of ['/', '/ws', '/realtime/ws', '/.well-known/herald', '/v1.ws']) expect(parseEnvironment({ WS_PATH: path }).WS_PATH).toBe(path);
  });

  it('refuses a WS_PATH over 1024 characters, which could make every handshake too long for Node to take, and takes one of 1024', () => {
    expect(parseEnvironment({ WS_PATH: `/${'a'.repeat(1023)}` }).WS_PATH).toHaveLength(1024);
    expect(() => parseEnvironment({ WS_PATH: `/${'a'.repeat(1024)}` })).toThrow(
      new ConfigurationError(['WS_PATH must be at most 1024 characters: every handshake carries it in its request line, and Node refuses (431) a request head over 16 KB']),
    );
  });

  it('refuses production without a JWT key', () => {
    expect(() => parseEnvironment({ NODE_ENV: 'production' })).toThrow('JWT_SECRET or JWT_PUBLIC_KEY');
    expect(parseEnvironment({ NODE_ENV: 'production', JWT_SECRET: 'a-long-enough-secret' }).NODE_ENV).toBe('production');
  });

  it('parses the backend hooks, off by default', () => {
    expect(parseEnvironment({})).toMatchObject({ WEBHOOK_URL: undefined, JOIN_PROXY_URL: undefined, WEBHOOK_BATCH_MAX: 100, WEBHOOK_BATCH_MS: 500, WEBHOOK_UNREAD_AFTER_S: 0, WEBHOOK_RETRY_S: 3600, JOIN_PROXY_TIMEOUT_MS: 2000 });
    const env = parseEnvironment({ WEBHOOK_URL: 'https://backend.example/herald', JOIN_PROXY_URL: 'http://backend:8080/join', JOIN_PROXY_ROOMS: 'doc:*, team:42', HOOKS_SECRET: 'sixteen-chars-ok' });
    expect(env).toMatchObject({ WEBHOOK_URL: 'https://backend.example/herald', JOIN_PROXY_ROOMS: 'doc:*, team:42' });
  });

  it.each([
    [{ WEBHOOK_URL: 'https://backend.example/herald' }, 'HOOKS_SECRET must be set'],
    [{ JOIN_PROXY_URL: 'https://backend.example/join', JOIN_PROXY_ROOMS: 'doc:*' }, 'HOOKS_SECRET must be set'],
    [{ WEBHOOK_URL: 'https://backend.example/herald', HOOKS_SECRET: 'short' }, 'HOOKS_SECRET must be at least 16'],
    [{ WEBHOOK_URL: 'ftp://backend.example', HOOKS_SECRET: 'sixteen-chars-ok' }, 'WEBHOOK_URL'],
    [{ JOIN_PROXY_URL: 'https://backend.example/join', HOOKS_SECRET: 'sixteen-chars-ok' }, 'JOIN_PROXY_ROOMS'],
    [{ JOIN_PROXY_URL: 'https://backend.example/join', JOIN_PROXY_ROOMS: 'doc:*x', HOOKS_SECRET: 'sixteen-chars-ok' }, 'JOIN_PROXY_ROOMS'],
    [{ JOIN_PROXY_URL: 'not a url', JOIN_PROXY_ROOMS: 'doc:*', HOOKS_SECRET: 'sixteen-chars-ok' }, 'JOIN_PROXY_URL'],
    [{ WEBHOOK_BATCH_MAX: '0' }, 'WEBHOOK_BATCH_MAX'],
    [{ WEBHOOK_BATCH_MS: 'soon' }, 'WEBHOOK_BATCH_MS'],
    [{ WEBHOOK_UNREAD_AFTER_S: '-1' }, 'WEBHOOK_UNREAD_AFTER_S'],
    [{ WEBHOOK_UNREAD_AFTER_S: '5' }, 'WEBHOOK_UNREAD_AFTER_S needs WEBHOOK_URL'],
    [{ JOIN_PROXY_URL: 'https://backend.example/join', JOIN_PROXY_ROOMS: 'doc:*,', HOOKS_SECRET: 'sixteen-chars-ok' }, 'JOIN_PROXY_ROOMS must be comma-separated room names or prefixes ending in *'],
    [{ WEBHOOK_RETRY_S: '0' }, 'WEBHOOK_RETRY_S'],
    [{ WEBHOOK_TIMEOUT_MS: '10' }, 'WEBHOOK_TIMEOUT_MS'],
    [{ WEBHOOK_QUEUE_MAX: '0' }, 'WEBHOOK_QUEUE_MAX'],
    [{ JOIN_PROXY_TIMEOUT_MS: '0' }, 'JOIN_PROXY_TIMEOUT_MS'],
    [{ JOIN_PROXY_CACHE_SIZE: '-1' }, 'JOIN_PROXY_CACHE_SIZE'],
    [{ JOIN_PROXY_CONCURRENCY: '0' }, 'JOIN_PROXY_CONCURRENCY'],
    [{ JOIN_PROXY_CONCURRENCY: '10001' }, 'JOIN_PROXY_CONCURRENCY'],
  ])('refuses hook settings %j, naming the variable', (raw, message) => {
    expect(() => parseEnvironment(raw)).toThrow(message);
  });

  const secret = 'sixteen-chars-ok';
  it.each([
    [{ WEBHOOK_URL: 'http://hook:PASSWORD@backend.example/herald?key=QUERYKEY', HOOKS_SECRET: secret }, 'WEBHOOK_URL must not contain credentials'],
    [{ WEBHOOK_URL: 'https://justauser@backend.example/herald', HOOKS_SECRET: secret }, 'WEBHOOK_URL must not contain credentials'],
    [{ JOIN_PROXY_URL: 'http://join:PASSWORD@backend.example/join', JOIN_PROXY_ROOMS: 'doc:*', HOOKS_SECRET: secret }, 'JOIN_PROXY_URL must not contain credentials'],
    [{ WEBHOOK_URL: 'https://backend.example/herald', HOOKS_SECRET: ' '.repeat(20) }, 'HOOKS_SECRET must not be only whitespace'],
    [{ WEBHOOK_URL: 'https://backend.example/herald', HOOKS_SECRET: '\t\n'.repeat(10) }, 'HOOKS_SECRET must not be only whitespace'],
    [{ WEBHOOK_URL: 'https://backend.example/herald', HOOKS_SECRET: 'sixteen-chars-ok ' }, 'HOOKS_SECRET must not start or end with whitespace'],
    [{ JWT_SECRET: `${' '.repeat(15)}x` }, 'JWT_SECRET must not start or end with whitespace'],
    [{ JOIN_PROXY_ROOMS: 'doc:*' }, 'JOIN_PROXY_ROOMS applies only with JOIN_PROXY_URL'],
    [{ JOIN_PROXY_URL: 'https://backend.example/join', JOIN_PROXY_ROOMS: 'doc:*,user:*', HOOKS_SECRET: secret }, 'JOIN_PROXY_ROOMS lists user:*, which can never apply'],
    [{ JOIN_PROXY_URL: 'https://backend.example/join', JOIN_PROXY_ROOMS: 'user:alice, public:*', HOOKS_SECRET: secret }, 'JOIN_PROXY_ROOMS lists user:alice, public:*, which can never apply'],
  ])('refuses hook settings that could never work %j, naming the variable', (raw, message) => {
    expect(() => parseEnvironment(raw)).toThrow(message);
    // A refusal never repeats what the URL carried.
    expect(() => parseEnvironment(raw)).not.toThrow(/PASSWORD|QUERYKEY/);
  });

  it.each([
    [{ JWT_ISSUER: '   ' }, 'JWT_ISSUER must not be only whitespace'],
    [{ JWT_ISSUER: 'https://auth.example.com/ ' }, 'JWT_ISSUER must not start or end with whitespace'],
    [{ JWT_AUDIENCE: '\t' }, 'JWT_AUDIENCE must not be only whitespace'],
    [{ JWT_AUDIENCE: ' herald' }, 'JWT_AUDIENCE must not start or end with whitespace'],
  ])('refuses a token claim setting with whitespace around it %j, naming the variable', (raw, message) => {
    // Tokens carry the value as meant: every one was refused, with nothing logged, after a start that succeeded.
    expect(() => parseEnvironment(raw)).toThrow(new ConfigurationError([message]));
  });

  it('refuses a MAX_ROOMS_PER_CONNECTION below 2, which the personal room alone fills, naming it', () => {
    for (const value of ['1', '0']) {
      expect(() => parseEnvironment({ MAX_ROOMS_PER_CONNECTION: value })).toThrow(
        new ConfigurationError(['MAX_ROOMS_PER_CONNECTION must be at least 2: it counts the personal room every connection is in from the start, so with 1 no join could ever succeed']),
      );
    }
    expect(parseEnvironment({ MAX_ROOMS_PER_CONNECTION: '2' }).MAX_ROOMS_PER_CONNECTION).toBe(2);
  });

  it('accepts JWT_ISSUER and JWT_AUDIENCE with spaces inside them', () => {
    expect(parseEnvironment({ JWT_ISSUER: 'https://auth.example.com/', JWT_AUDIENCE: 'herald service' })).toMatchObject({ JWT_ISSUER: 'https://auth.example.com/', JWT_AUDIENCE: 'herald service' });
  });

  it.each(['*', 'doc:*,team:7', 'user*', 'users:*', 'public', 'publication:*'])('accepts JOIN_PROXY_ROOMS %s, which some proxied room matches', (rooms) => {
    expect(parseEnvironment({ JOIN_PROXY_URL: 'https://backend.example/join?key=token-in-the-query', JOIN_PROXY_ROOMS: rooms, HOOKS_SECRET: secret }).JOIN_PROXY_ROOMS).toBe(rooms);
  });

  it('ignores variables it does not own', () => {
    expect(() => parseEnvironment({ HOME: '/root', npm_config_x: 'y' })).not.toThrow();
  });
});

describe('documentation of the configuration', () => {
  it('knows the variables without defaults too', () => {
    expect(variables).toEqual(expect.arrayContaining(['REDIS_URL', 'REDIS_MIN_REPLICAS', 'REDIS_PERSONAL_CHANNELS', 'JOIN_PROXY_URL', 'INTERNAL_PORT']));
  });

  const root = join(__dirname, '..', '..');
  it.each(['.env.example', 'README.md'])('%s lists every variable', (file) => {
    const text = readFileSync(join(root, file), 'utf8');
    expect(variables.filter((name) => !text.includes(name))).toEqual([]);
  });
});
