import { TokenBucket } from './token-bucket';

describe('TokenBucket', () => {
  it('allows a burst of twice the rate, then drops', () => {
    const bucket = new TokenBucket(5, 0);
    const results = Array.from({ length: 11 }, () => bucket.take(0));
    expect(results.slice(0, 10)).toEqual(Array(10).fill('ok'));
    expect(results[10]).toBe('drop');
  });

  it('refills at the configured rate', () => {
    const bucket = new TokenBucket(10, 0);
    for (let i = 0; i < 20; i++) bucket.take(0);
    expect(bucket.take(0)).toBe('drop');
    expect(bucket.take(100)).toBe('ok'); // 100 ms at 10/s is one token
    expect(bucket.take(100)).toBe('drop');
  });

  it('closes after more than 2 x rate drops without a one-second pause', () => {
    const bucket = new TokenBucket(2, 0);
    for (let i = 0; i < 4; i++) bucket.take(0);
    const drops = Array.from({ length: 4 }, () => bucket.take(0));
    expect(drops).toEqual(['drop', 'drop', 'drop', 'drop']);
    expect(bucket.take(0)).toBe('close');
  });

  it('forgives earlier drops after a one-second pause', () => {
    const bucket = new TokenBucket(1, 0);
    bucket.take(0);
    bucket.take(0);
    expect(bucket.take(0)).toBe('drop');
    expect(bucket.take(0)).toBe('drop');
    // Tokens come back after the pause; spend them, then drops count from zero again.
    expect(bucket.take(1500)).toBe('ok');
    expect(bucket.take(1500)).toBe('drop');
    expect(bucket.take(1500)).toBe('drop');
    expect(bucket.take(1500)).toBe('close');
  });
});
