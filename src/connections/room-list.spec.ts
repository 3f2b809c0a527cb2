import { RoomList } from './room-list';

describe('RoomList', () => {
  it('behaves as a set of room names in insertion order', () => {
    const rooms = new RoomList();
    rooms.add('user:a');
    rooms.add('chat:1');
    rooms.add('chat:1');
    expect(rooms.size).toBe(2);
    expect(rooms.has('chat:1')).toBe(true);
    expect([...rooms]).toEqual(['user:a', 'chat:1']);
    expect(rooms.delete('chat:1')).toBe(true);
    expect(rooms.delete('chat:1')).toBe(false);
    expect([...rooms]).toEqual(['user:a']);
    rooms.clear();
    expect(rooms.size).toBe(0);
  });
});
