import { ConsoleLogger } from '@nestjs/common';
import { startFailureLine } from './start-failure';

/** What Nest's JSON logger writes for `fatal(message)` in context Herald, and to which stream. */
function nestFatalLine(message: string): { stream: string; line: Record<string, unknown> } {
  const written: { stream: string; text: string }[] = [];
  const spies = (['stdout', 'stderr'] as const).map((stream) =>
    jest.spyOn(process[stream], 'write').mockImplementation((text) => {
      written.push({ stream, text: String(text) });
      return true;
    }),
  );
  try {
    new ConsoleLogger('Herald', { json: true }).fatal(message);
  } finally {
    spies.forEach((spy) => spy.mockRestore());
  }
  expect(written).toHaveLength(1);
  return { stream: written[0].stream, line: JSON.parse(written[0].text) as Record<string, unknown> };
}

describe('startFailureLine', () => {
  it('in production, writes one JSON line shaped as the JSON logger writes a fatal one', () => {
    const text = startFailureLine('Herald cannot start. Invalid configuration:\n  - PORT must be an integer number', { production: true });
    expect(text.endsWith('\n')).toBe(true);
    expect(text.trimEnd().split('\n')).toHaveLength(1);
    const line = JSON.parse(text) as Record<string, unknown>;
    const nest = nestFatalLine('x');
    // Nest writes error and fatal lines to stderr, as the callers write this one.
    expect(nest.stream).toBe('stderr');
    expect(Object.keys(line)).toEqual(Object.keys(nest.line));
    expect(line).toEqual({ level: 'fatal', pid: process.pid, timestamp: expect.any(Number), message: 'Herald cannot start. Invalid configuration:\n  - PORT must be an integer number', context: 'Herald' });
  });

  it('in production, gives an unexpected error its stack as a field of the same line', () => {
    const line = JSON.parse(startFailureLine('Herald failed to start: boom', { production: true, stack: 'Error: boom\n    at somewhere' })) as Record<string, unknown>;
    expect(line).toMatchObject({ level: 'fatal', message: 'Herald failed to start: boom', stack: 'Error: boom\n    at somewhere' });
  });

  it('elsewhere, writes plain text a person reads, the stack on the lines after', () => {
    expect(startFailureLine('Herald cannot start. Port 3000 is already in use', { production: false })).toBe('Herald cannot start. Port 3000 is already in use\n');
    expect(startFailureLine('Herald failed to start: boom', { production: false, stack: 'Error: boom\n    at somewhere' })).toBe('Herald failed to start: boom\nError: boom\n    at somewhere\n');
  });
});
