import type { WebSocket } from 'ws';
import { CONNECTION_OF_SOCKET } from '../connections/connection';
import { SocketEventHandlers, socketClassWith } from './herald-socket';

/** Records each handler call with the socket it was called on. */
function recordingHandlers(calls: Array<[event: string, socket: WebSocket, ...args: unknown[]]>): SocketEventHandlers {
  return {
    close(code) {
      calls.push(['close', this, code]);
    },
    error(error) {
      calls.push(['error', this, error.message]);
    },
    message(data, isBinary) {
      calls.push(['message', this, String(data), isBinary]);
    },
    ping(data) {
      calls.push(['ping', this, String(data)]);
    },
    pong() {
      calls.push(['pong', this]);
    },
  };
}

/** A server-side socket as ws's server makes it (`new WebSocket(null, undefined, options)`), before its TCP socket is set. */
function serverSocket(handlers: SocketEventHandlers): WebSocket {
  const HeraldSocket = socketClassWith(handlers);
  return new HeraldSocket(null as unknown as string, undefined, { autoPong: false } as never);
}

describe('socketClassWith', () => {
  it('hands every socket event to its shared handler, called on the socket, with no listener stored on the socket', () => {
    const calls: Array<[string, WebSocket, ...unknown[]]> = [];
    const handlers = recordingHandlers(calls);
    const first = serverSocket(handlers);
    const second = serverSocket(handlers);
    first.emit('message', Buffer.from('{"event":"ping"}'), false);
    second.emit('ping', Buffer.from('p'));
    first.emit('pong', Buffer.from(''));
    second.emit('error', new Error('bad frame'));
    first.emit('close', 1000, Buffer.from(''));
    expect(calls).toEqual([
      ['message', first, '{"event":"ping"}', false],
      ['ping', second, 'p'],
      ['pong', first],
      ['error', second, 'bad frame'],
      ['close', first, 1000],
    ]);
    for (const socket of [first, second]) expect(socket.eventNames()).toEqual([]);
  });

  it("declares the slot the hub keeps a socket's connection in, empty until the hub fills it", () => {
    const socket = serverSocket(recordingHandlers([]));
    expect(Object.getOwnPropertySymbols(socket)).toContain(CONNECTION_OF_SOCKET);
    expect((socket as unknown as Record<symbol, unknown>)[CONNECTION_OF_SOCKET]).toBeUndefined();
  });

  it('runs listeners added by anyone else after the handler, with the arguments ws emitted', () => {
    const calls: Array<[string, WebSocket, ...unknown[]]> = [];
    const socket = serverSocket(recordingHandlers(calls));
    const heard: unknown[][] = [];
    socket.on('message', (data, isBinary) => heard.push(['message', String(data), isBinary, calls.length]));
    socket.on('close', (code, reason) => heard.push(['close', code, String(reason), calls.length]));
    socket.on('open', () => heard.push(['open']));
    expect(socket.emit('message', Buffer.from('hi'), true)).toBe(true);
    expect(socket.emit('close', 4000, Buffer.from('bye'))).toBe(true);
    expect(socket.emit('open')).toBe(true);
    expect(heard).toEqual([
      ['message', 'hi', true, 1],
      ['close', 4000, 'bye', 2],
      ['open'],
    ]);
    expect(socket.emit('upgrade')).toBe(false);
  });

  it('handles an error no other listener hears (EventEmitter would throw it), and still passes it to one that does', () => {
    const calls: Array<[string, WebSocket, ...unknown[]]> = [];
    const socket = serverSocket(recordingHandlers(calls));
    expect(() => socket.emit('error', new Error('first'))).not.toThrow();
    const heard: string[] = [];
    socket.on('error', (error) => heard.push(error.message));
    socket.emit('error', new Error('second'));
    expect(calls.map(([event, , message]) => [event, message])).toEqual([
      ['error', 'first'],
      ['error', 'second'],
    ]);
    expect(heard).toEqual(['second']);
  });
});
