import { KeyObject, createPublicKey } from 'node:crypto';
import { Matches, ValidateBy, ValidationOptions } from 'class-validator';
import { isPublishedSecret } from './published-secrets';

/*
 * Rules for the values tokens and hook requests are signed or checked with: the secrets, the
 * JWT public key and the claims a token must carry. A wrong one does not fail on its own: every
 * token or signature is refused, with nothing saying why, so these stop start-up instead.
 */

/**
 * Not blank, and no whitespace at either end. Spaces around a key or a claim value are a quoting
 * slip far more often than part of it: every token (or signature) made with the value as meant
 * would be refused, with nothing saying why.
 */
export function IsTrimmed(variable: string): PropertyDecorator {
  const notBlank = Matches(/\S/, { message: `${variable} must not be only whitespace` });
  const noSpaceAround = Matches(/^(?:\s*|\S(?:[^]*\S)?)$/, { message: `${variable} must not start or end with whitespace` });
  return (target, property) => {
    notBlank(target, property);
    noSpaceAround(target, property);
  };
}

/** In production, a secret of the operator's own: none Herald's docs or deploy files publish (isPublishedSecret). */
export function IsOwnSecretInProduction(): PropertyDecorator {
  return ValidateBy({
    name: 'isOwnSecretInProduction',
    validator: {
      validate: (value: unknown, args) => (args?.object as { NODE_ENV?: string }).NODE_ENV !== 'production' || typeof value !== 'string' || !isPublishedSecret(value),
      defaultMessage: (args) =>
        `${args?.property} is an example value from Herald's docs or deploy files, which anyone can read: in production set a random one of your own (openssl rand -base64 48)`,
    },
  });
}

/** PEM blocks, BEGIN line to END line, in a value whose newlines are real ones (toPem). */
const PEM_BLOCKS = /-----BEGIN [^-\n]+-----[^]*?-----END [^-\n]+-----/g;

/**
 * At most one PEM block and nothing around it but whitespace (a value with no whole block is
 * IsPublicKeyPem's to refuse). createPublicKey reads the first block and ignores the rest, so a
 * rotation bundle of two keys, or text pasted after the key, started and silently verified with
 * the first key only: every token signed with the other was refused.
 */
export function IsOnePemBlock(options: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isOnePemBlock',
      validator: {
        validate(value: unknown) {
          if (typeof value !== 'string') return true;
          const pem = value.trim();
          const blocks = pem.match(PEM_BLOCKS) ?? [];
          return blocks.length === 0 || (blocks.length === 1 && blocks[0] === pem);
        },
      },
    },
    options,
  );
}

/**
 * A PEM public key that RS256 or ES256 can verify with (RSA or EC), its `\n` escapes already
 * real newlines (toPem). A value that merely looks like PEM once passed here and then failed in
 * key import at start-up with an OpenSSL stack trace ("DECODER routines::unsupported").
 */
export function IsPublicKeyPem(options: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isPublicKeyPem',
      validator: {
        validate(value: unknown) {
          if (typeof value !== 'string' || !value.includes('-----BEGIN')) return false;
          // A private key would be read as its public half: refused, as it has no place in the config.
          if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(value)) return false;
          try {
            return verifiesTokens(createPublicKey(value));
          } catch {
            return false; // createPublicKey throws on anything it cannot decode
          }
        },
      },
    },
    options,
  );
}

/**
 * A key RS256 or ES256 can verify with: RSA of 2048 bits or more, or EC on P-256 (ES256's
 * curve). A P-384 key, or a 1024-bit RSA one, was taken and then refused every token.
 */
function verifiesTokens(key: KeyObject): boolean {
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'rsa') return (details?.modulusLength ?? 0) >= 2048;
  if (key.asymmetricKeyType === 'ec') return details?.namedCurve === 'prime256v1';
  return false;
}
