import { Publication } from '../broker/broker';
import { deliveryFrame } from './server-frame';

describe('deliveryFrame', () => {
  it('puts seq first in a publication’s data, then the body as published', () => {
    const body = { id: 'n1', room: 'user:ann', type: 'ping', payload: { text: 'a "quoted" ü' }, timestamp: '2024-01-01T00:00:00.000Z' };
    const publication: Publication = { kind: 'publication', room: 'user:ann', seq: 'e1-000000000007', event: 'notification', body: JSON.stringify(body), publishedAtMs: 1 };
    const frame = deliveryFrame(publication);
    expect(frame).toBe(JSON.stringify({ event: 'notification', data: { seq: 'e1-000000000007', ...body } }));
  });

  it('sends a broadcast’s frame as it was built', () => {
    expect(deliveryFrame({ kind: 'broadcast', room: 'chat', frame: '{"event":"presence","data":{}}', excludeUser: 'ann' })).toBe('{"event":"presence","data":{}}');
  });

  it('turns a history gap into section 4’s recovery frame', () => {
    expect(JSON.parse(deliveryFrame({ kind: 'gap', room: 'chat', latestSeq: null }))).toEqual({ event: 'recovery', data: { room: 'chat', seq: null, recovered: false } });
  });
});
