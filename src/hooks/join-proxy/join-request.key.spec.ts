import { joinDecisionKey, joinRequestKey } from './join-request.key';

describe('join proxy keys', () => {
  const request = (claims: Record<string, unknown>, user = 'ann', room = 'doc:1') => ({ user, room, claims: { sub: user, ...claims } });

  it('are equal for the same claims written in another order, at any depth', () => {
    const one = request({ org: 'acme', role: { name: 'editor', teams: [1, 2] } });
    const other = request({ role: { teams: [1, 2], name: 'editor' }, org: 'acme' });
    expect(joinRequestKey(other)).toBe(joinRequestKey(one));
    expect(joinDecisionKey(other)).toBe(joinDecisionKey(one));
  });

  it('differ for any claim the backend could decide on, and for another user or room', () => {
    const base = request({ org: 'acme', jti: 'a' });
    for (const changed of [request({ org: 'evil', jti: 'a' }), request({ org: 'acme', jti: 'b' }), request({ org: 'acme' }), request({ org: 'acme', jti: 'a' }, 'bob'), request({ org: 'acme', jti: 'a' }, 'ann', 'doc:2')]) {
      expect(joinRequestKey(changed)).not.toBe(joinRequestKey(base));
      expect(joinDecisionKey(changed)).not.toBe(joinDecisionKey(base));
    }
    // Arrays keep their order: a backend may read the first entry.
    expect(joinDecisionKey(request({ groups: ['a', 'b'] }))).not.toBe(joinDecisionKey(request({ groups: ['b', 'a'] })));
  });

  it('leave iat, exp and nbf out of the decision key only, so a refreshed token keeps a remembered allow', () => {
    const first = request({ org: 'acme', iat: 100, exp: 3700 });
    const refreshed = request({ org: 'acme', iat: 200, exp: 3800, nbf: 200 });
    expect(joinDecisionKey(refreshed)).toBe(joinDecisionKey(first));
    expect(joinRequestKey(refreshed)).not.toBe(joinRequestKey(first));
  });

  it('stay the same size however many claims a token carries', () => {
    const big = request({ rooms: Array.from({ length: 1000 }, (_, i) => `doc:${i}`) });
    expect(joinDecisionKey(big).length).toBe(joinDecisionKey(request({})).length);
  });
});
