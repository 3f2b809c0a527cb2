import { parseFrame } from './frame.parser';

const text = (value: string) => Buffer.from(value);

describe('parseFrame', () => {
  it('accepts an event with object data and a string or numeric id', () => {
    expect(parseFrame(text('{"event":"join","data":{"room":"a"},"id":"x"}'), false, 32)).toEqual({ ok: true, event: 'join', data: { room: 'a' }, id: 'x' });
    expect(parseFrame(text('{"event":"ping","id":7}'), false, 32)).toEqual({ ok: true, event: 'ping', data: {}, id: 7 });
  });

  it.each([
    ['binary frames', '{"event":"ping"}', true, undefined, undefined],
    ['invalid JSON', '{', false, undefined, undefined],
    ['arrays', '[]', false, undefined, undefined],
    ['null', 'null', false, undefined, undefined],
    ['a missing event', '{"id":"k"}', false, undefined, 'k'],
    ['a non-object data', '{"event":"join","data":[1],"id":"k"}', false, 'join', 'k'],
    ['an object id', '{"event":"ping","id":{}}', false, 'ping', undefined],
    ['a non-finite id', '{"event":"ping","id":1e999}', false, 'ping', undefined],
  ])('refuses %s, keeping what it can echo', (_, raw, isBinary, event, id) => {
    const parsed = parseFrame(text(raw), isBinary, 32);
    expect(parsed).toMatchObject({ ok: false, problem: expect.any(String) });
    expect(parsed.event).toBe(event);
    expect(parsed.id).toBe(id);
  });
});
