import { createServer, Server, Socket } from 'node:net';

/**
 * A sentinel that has not caught up with a failover: it names `names` (`host:port`) as the
 * primary of any master, whatever the real sentinels say, until told another (`name`). It speaks just enough RESP for a
 * Sentinel client: `SENTINEL get-master-addr-by-name`, `SUBSCRIBE` (a `+switch-master` comes
 * only when told to `announce` one) and `+OK` to anything else (connection setup).
 */
export interface FakeSentinel {
  /** `127.0.0.1:<port>`, as REDIS_SENTINELS lists sentinels. */
  address: string;
  /** How many times it was asked for the primary. */
  asked(): number;
  /** From now on it names `primary` (`host:port`): it learned of a failover, its `+switch-master` never sent. */
  name(primary: string): void;
  /** Sends `message` on `channel` to every client subscribed to it (a `+switch-master`, true or not); returns to how many. */
  announce(channel: string, message: string): number;
  /** Connections it took so far, and those open now. */
  connectionsTaken(): number;
  openConnections(): number;
  stop(): Promise<void>;
}

/**
 * `unknownFirst`: it answers the first that many questions as a sentinel that knows no such
 * master (a sentinel still starting). `silent`: it takes connections and never answers anything,
 * as a frozen sentinel (SIGSTOP, a paused VM) whose kernel still accepts them. `answerAfterMs`: it
 * names the primary that long after being asked (a sentinel on a busy or distant node).
 */
export async function startFakeSentinel(names: string, { unknownFirst = 0, silent = false, answerAfterMs = 0 }: { unknownFirst?: number; silent?: boolean; answerAfterMs?: number } = {}): Promise<FakeSentinel> {
  const split = (address: string) => [address.slice(0, address.lastIndexOf(':')), address.slice(address.lastIndexOf(':') + 1)];
  let [host, port] = split(names);
  let asked = 0;
  let taken = 0;
  const sockets = new Set<Socket>();
  const subscribers = new Map<Socket, Set<string>>();
  const server: Server = createServer((socket) => {
    taken++;
    sockets.add(socket);
    socket.on('close', () => {
      sockets.delete(socket);
      subscribers.delete(socket);
    });
    socket.on('error', () => undefined);
    // Read and dropped: a socket nobody reads never sees its peer's FIN, so it would never close.
    if (silent) return void socket.resume();
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        const parsed = parseCommand(pending);
        if (!parsed) return;
        pending = pending.subarray(parsed.length);
        const [name = '', ...args] = parsed.command;
        if (name.toUpperCase() === 'SENTINEL' && args[0]?.toLowerCase() === 'get-master-addr-by-name') {
          asked++;
          const answer = asked <= unknownFirst ? '*-1\r\n' : array([bulk(host), bulk(port)]);
          if (answerAfterMs > 0) setTimeout(() => !socket.destroyed && socket.write(answer), answerAfterMs);
          else socket.write(answer);
        } else if (name.toUpperCase() === 'SUBSCRIBE') {
          let channels = subscribers.get(socket);
          if (!channels) subscribers.set(socket, (channels = new Set()));
          for (const channel of args) channels.add(channel);
          args.forEach((channel, index) => socket.write(array([bulk('subscribe'), bulk(channel), `:${index + 1}\r\n`])));
        } else socket.write('+OK\r\n');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  return {
    address: `127.0.0.1:${address.port}`,
    asked: () => asked,
    name: (primary) => {
      [host, port] = split(primary);
    },
    announce: (channel, message) => {
      let told = 0;
      for (const [socket, channels] of subscribers) {
        if (!channels.has(channel)) continue;
        // A RESP3 push, as node-redis reads a pub/sub message whatever protocol it speaks.
        socket.write(`>3\r\n${bulk('message')}${bulk(channel)}${bulk(message)}`);
        told++;
      }
      return told;
    },
    connectionsTaken: () => taken,
    openConnections: () => sockets.size,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

const bulk = (text: string) => `$${Buffer.byteLength(text)}\r\n${text}\r\n`;
const array = (items: string[]) => `*${items.length}\r\n${items.join('')}`;

/** One RESP array of bulk strings from the front of `buffer`, with the bytes it took; undefined until it is whole. */
function parseCommand(buffer: Buffer): { command: string[]; length: number } | undefined {
  let at = 0;
  const line = (): string | undefined => {
    const end = buffer.indexOf('\r\n', at);
    if (end < 0) return undefined;
    const text = buffer.toString('latin1', at, end);
    at = end + 2;
    return text;
  };
  const header = line();
  if (header === undefined || !header.startsWith('*')) return undefined;
  const command: string[] = [];
  for (let count = Number(header.slice(1)); count > 0; count--) {
    const size = line();
    if (size === undefined) return undefined;
    const bytes = Number(size.slice(1));
    if (buffer.length < at + bytes + 2) return undefined;
    command.push(buffer.toString('utf8', at, at + bytes));
    at += bytes + 2;
  }
  return { command, length: at };
}
