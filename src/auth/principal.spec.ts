import { Principal, expiresAtOf } from './principal';

const principal = (expiresAtMs: number | null): Principal => ({ user: 'u1', name: undefined, roomPatterns: [], scopes: [], expiresAtMs });

describe('expiresAtOf', () => {
  it("writes each principal's own exp, whether it repeats the last one or not", () => {
    const exps = [1_800_000_000_000, 1_800_000_000_000, 1_800_000_001_000, null, 1_800_000_000_000, 0, 0, 8.64e15];
    for (const ms of exps) expect(expiresAtOf(principal(ms))).toBe(ms === null ? null : new Date(ms).toISOString());
  });
});
