import { AddressInfo, Server, Socket, connect, createServer } from 'node:net';

/**
 * A fixed address in front of a Redis that can move: a managed service's endpoint (a DNS name,
 * a floating IP) after a failover. Connections opened before `moveTo` stay with the old server,
 * as a demoted server's open connections do; new ones reach the new one.
 */
export interface TcpRelay {
  readonly port: number;
  readonly url: string;
  moveTo(targetPort: number): void;
  /** Cuts every connection through the relay and refuses new ones until `mend`: one pod's network to Redis is down. */
  cut(): void;
  mend(): void;
  close(): Promise<void>;
}

export async function startTcpRelay(targetPort: number): Promise<TcpRelay> {
  let target = targetPort;
  let refusing = false;
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  const server: Server = createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = connect(target, '127.0.0.1');
    track(client);
    track(upstream);
    client.pipe(upstream).pipe(client);
    const shut = () => {
      client.destroy();
      upstream.destroy();
    };
    client.once('error', shut).once('close', shut);
    upstream.once('error', shut).once('close', shut);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    moveTo: (targetPort) => {
      target = targetPort;
    },
    cut: () => {
      refusing = true;
      for (const socket of sockets) socket.destroy();
    },
    mend: () => {
      refusing = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
