import { jest } from '@jest/globals';
import type { Logger } from '@nestjs/common';
import { GapLog } from './gap.log';

describe('GapLog', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it("writes one line per burst of gaps, counting personal rooms without naming them", () => {
    const warn = jest.fn();
    const gaps = new GapLog({ warn } as unknown as Logger);
    for (const room of ['chat:1', 'user:alice', 'chat:2', 'user:bob', 'chat:3', 'chat:4', 'chat:5', 'chat:6']) gaps.add(room);
    expect(warn).not.toHaveBeenCalled();
    jest.advanceTimersByTime(1000);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn).toHaveBeenCalledWith({
      message: 'Room history did not cover the outage; members are told to recover',
      rooms: 8,
      personalRooms: 2,
      examples: ['chat:1', 'chat:2', 'chat:3', 'chat:4', 'chat:5'],
    });
    gaps.flush();
    expect(warn).toHaveBeenCalledTimes(1);
    gaps.add('chat:7');
    gaps.flush();
    expect(warn).toHaveBeenLastCalledWith(expect.objectContaining({ rooms: 1, examples: ['chat:7'] }));
    jest.advanceTimersByTime(5000);
    expect(warn).toHaveBeenCalledTimes(2);
  });
});
