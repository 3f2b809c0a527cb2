#!/usr/bin/env node
// Mints a Herald JWT for trying the service and for scripts:
//   npm run token -- --sub alice --rooms 'chat:*,team:42' --scope notifications:publish --ttl 1h
// Signs HS256 with JWT_SECRET (from the environment or .env), or RS256/ES256 with --key <private PEM file>.
import { createHmac, createPrivateKey, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import dotenv from 'dotenv';

dotenv.config({ quiet: true });

const usage = `Usage: npm run token -- --sub <user> [--rooms 'a:*,b'] [--scope 'notifications:publish presence:read']
                       [--name 'Display Name'] [--ttl 1h|30m|3600|none] [--key private.pem --alg RS256|ES256]`;

let values;
try {
  ({ values } = parseArgs({
    options: {
      sub: { type: 'string' },
      rooms: { type: 'string' },
      scope: { type: 'string', multiple: true },
      name: { type: 'string' },
      ttl: { type: 'string', default: '1h' },
      key: { type: 'string' },
      alg: { type: 'string', default: 'RS256' },
      help: { type: 'boolean', short: 'h' },
    },
  }));
} catch (error) {
  fail(`${error.message}\n${usage}`);
}
if (values.help) {
  console.log(usage);
  process.exit(0);
}
if (!values.sub) fail(`--sub is required\n${usage}`);

const now = Math.floor(Date.now() / 1000);
const claims = { sub: values.sub, iat: now };
const ttlS = parseTtl(values.ttl);
if (ttlS !== null) claims.exp = now + ttlS;
if (values.rooms) claims.rooms = values.rooms.split(',').map((room) => room.trim()).filter(Boolean);
if (values.scope) claims.scope = values.scope.join(' ');
if (values.name) claims.name = values.name;
if (process.env.JWT_ISSUER) claims.iss = process.env.JWT_ISSUER;
if (process.env.JWT_AUDIENCE) claims.aud = process.env.JWT_AUDIENCE;

const encode = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
let token;
if (values.key) {
  if (!['RS256', 'ES256'].includes(values.alg)) fail('--alg must be RS256 or ES256');
  const unsigned = `${encode({ alg: values.alg, typ: 'JWT' })}.${encode(claims)}`;
  const key = createPrivateKey(readFileSync(values.key));
  const signature = sign('sha256', Buffer.from(unsigned), values.alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : key);
  token = `${unsigned}.${signature.toString('base64url')}`;
} else {
  const secret = process.env.JWT_SECRET;
  if (!secret) fail('JWT_SECRET is not set (export it or put it in .env), or pass --key for RS256/ES256');
  const unsigned = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode(claims)}`;
  token = `${unsigned}.${createHmac('sha256', secret).update(unsigned).digest('base64url')}`;
}
process.stdout.write(`${token}\n`);

function parseTtl(text) {
  if (text === 'none' || text === '0') return null;
  const match = /^(\d+)\s*(s|m|h|d)?$/.exec(text);
  if (!match) fail(`--ttl must look like 3600, 90s, 30m, 1h, 7d or none (got ${text})`);
  return Number(match[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[match[2] ?? 's'];
}

function fail(message) {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}
