import { jest } from '@jest/globals';
import type { Logger } from '@nestjs/common';
import { RoomBurstLog } from './room-burst.log';

describe('RoomBurstLog', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  const GAPS = 'Room history did not cover the outage; members are told to recover';

  it("writes one line per burst of rooms, counting personal rooms without naming them", () => {
    const warn = jest.fn();
    const gaps = new RoomBurstLog({ warn } as unknown as Logger, GAPS);
    for (const room of ['chat:1', 'user:alice', 'chat:2', 'user:bob', 'chat:3', 'chat:4', 'chat:5', 'chat:6']) gaps.add(room);
    expect(warn).not.toHaveBeenCalled();
    jest.advanceTimersByTime(1000);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn).toHaveBeenCalledWith({
      message: GAPS,
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

  it('quotes the error of the burst\'s first report', () => {
    const warn = jest.fn();
    const failures = new RoomBurstLog({ warn } as unknown as Logger, 'Unsubscribe failed');
    failures.add('chat:1', 'DeadlineExpiredError: unsubscribe');
    failures.add('chat:2', 'another');
    failures.flush();
    expect(warn).toHaveBeenCalledWith({ message: 'Unsubscribe failed', rooms: 2, personalRooms: 0, examples: ['chat:1', 'chat:2'], error: 'DeadlineExpiredError: unsubscribe' });
  });
});
