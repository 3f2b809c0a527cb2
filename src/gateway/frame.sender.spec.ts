import fc from 'fast-check';
import { fuzzParameters } from '../../test/support/fuzz';
import { ERROR_MESSAGE_MAX_CHARS } from '../parsing/json-text-length';
import { ERROR_EVENT_MAX_CHARS, errorData } from './frame.sender';

/** What JSON writes for a string, quotes left out. */
const written = (text: string) => JSON.stringify(text).length - 2;

describe('errorData', () => {
  it('bounds the message and the echoed event as JSON writes them, escapes counted, never splitting a pair', () => {
    const char = fc.oneof(fc.constantFrom('\u0001', '"', '\\', '\n', '\ud800', '\udc00', '😀', 'é'), fc.string({ minLength: 1, maxLength: 1 }));
    const text = fc.array(char, { maxLength: 1200 }).map((chars) => chars.join(''));
    fc.assert(
      fc.property(text, fc.option(text, { nil: undefined }), (message, event) => {
        const data = errorData('bad_request', message, event);
        expect(written(data.message)).toBeLessThanOrEqual(ERROR_MESSAGE_MAX_CHARS + 1);
        if (written(message) <= ERROR_MESSAGE_MAX_CHARS) expect(data.message).toBe(message);
        else expect(message.startsWith(data.message.slice(0, -1)) && data.message.endsWith('…')).toBe(true);
        // A cut between the two halves of a pair would leave a lone surrogate behind.
        expect(data.message.isWellFormed() || !message.isWellFormed()).toBe(true);
        expect(data.event).toBe(event !== undefined && written(event) <= ERROR_EVENT_MAX_CHARS ? event : undefined);
      }),
      fuzzParameters(300),
    );
  });

  it('answers an unknown event of 64 control characters with a frame no larger than the one sent', () => {
    const event = '\u0001'.repeat(64);
    const sent = JSON.stringify({ event });
    const data = errorData('bad_request', `Unknown event ${event}`, event);
    expect(data.event).toBeUndefined();
    expect(JSON.stringify({ event: 'error', data }).length).toBeLessThanOrEqual(ERROR_MESSAGE_MAX_CHARS + 100);
    expect(sent.length).toBeGreaterThan(ERROR_EVENT_MAX_CHARS);
  });
});
