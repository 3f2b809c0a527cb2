import { redactedRedisUrl } from './redacted-redis-url';

describe('redactedRedisUrl', () => {
  it('masks the password and keeps the ACL user name that comes with it', () => {
    expect(redactedRedisUrl('redis://:S3CRET@redis:6379')).toBe('redis://:***@redis:6379');
    expect(redactedRedisUrl('rediss://herald:S3CRET@redis:6380/2')).toBe('rediss://herald:***@redis:6380/2');
  });

  it('masks a user name given without a password: where a password lands when the colon is left out', () => {
    expect(redactedRedisUrl('redis://S3CRET@redis:6379')).toBe('redis://***@redis:6379');
    expect(redactedRedisUrl('redis://S3CRET:@redis:6379/1')).toBe('redis://***@redis:6379/1');
  });

  it('leaves a URL without credentials as it is, and never echoes one it cannot parse', () => {
    expect(redactedRedisUrl('redis://redis:6379')).toBe('redis://redis:6379');
    expect(redactedRedisUrl('redis://S3CRET@')).toBe('(unparseable URL)');
  });
});
