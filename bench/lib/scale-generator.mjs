/**
 * One load-generator process of the scale run (bench/scale.mjs forks several: a process may
 * hold only so many sockets, its open-file limit). Driven over IPC:
 *
 *   {type: 'connect', count, offset, ports, room, concurrency, retries}
 *       opens `count` clients (users scale<offset>..), client i on ports[i % ports.length], each
 *       joining `room`; a client that fails is retried up to `retries` times. Reports
 *       {type: 'progress', connected} now and then, then {type: 'connected', ...}.
 *   {type: 'expect'}   zeroes the delivery counts for the next broadcast; answers {type: 'expecting'}.
 *                      When every client has it, the process reports {type: 'delivered', ...stats}.
 *   {type: 'stats'}    answers {type: 'stats', ...stats} (for a broadcast that never completed).
 *   {type: 'close'}    closes every client and exits.
 *
 * Latency is measured against the wall clock in high resolution (timeOrigin + now), which the
 * publisher in the parent process shares.
 */
import { performance } from 'node:perf_hooks';
import { BenchClient, Fleet } from './fleet.mjs';
import { sleep } from './processes.mjs';

const fleet = new Fleet({ protocol: 'herald' }, undefined);
fleet.now = () => performance.timeOrigin + performance.now();
let expecting = false;
/** Clients that fail to join count as closed too: only closes after admission matter later. */
let closedBeforeJoined = 0;

const send = (message) => process.send?.(message);

const stats = () => ({
  expected: fleet.clients.length,
  received: fleet.received,
  outOfOrder: fleet.outOfOrder,
  closedUnexpectedly: fleet.closedUnexpectedly - closedBeforeJoined,
  histogram: fleet.histogram.toJSON(),
});

const onNotification = fleet.onNotification.bind(fleet);
fleet.onNotification = (client, buffer) => {
  onNotification(client, buffer);
  if (expecting && fleet.received >= fleet.clients.length) {
    expecting = false;
    send({ type: 'delivered', ...stats() });
  }
};

async function connect({ count, offset, ports, room, concurrency, retries }) {
  const nodes = ports.map((port) => ({ port }));
  const perPort = Object.fromEntries(ports.map((port) => [port, 0]));
  const errors = new Map();
  let pending = Array.from({ length: count }, (_, i) => offset + i);
  let retried = 0;
  const progress = setInterval(() => send({ type: 'progress', connected: fleet.clients.length }), 1000);
  for (let attempt = 0; attempt <= retries && pending.length > 0; attempt++) {
    if (attempt > 0) {
      retried += pending.length;
      await sleep(1000);
    }
    const failed = [];
    let next = 0;
    const worker = async () => {
      while (next < pending.length) {
        const index = pending[next++];
        const node = nodes[index % nodes.length];
        const client = new BenchClient(fleet, `scale${index}`, index);
        try {
          await client.open(node, [room]);
          fleet.clients.push(client);
          perPort[node.port]++;
        } catch (error) {
          client.close();
          failed.push(index);
          const reason = String(error?.message ?? error).slice(0, 120);
          errors.set(reason, (errors.get(reason) ?? 0) + 1);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, pending.length) }, worker));
    pending = failed;
  }
  clearInterval(progress);
  closedBeforeJoined = fleet.closedUnexpectedly;
  // A client that failed and was retried was counted once per failure: report the distinct causes.
  send({ type: 'connected', connected: fleet.clients.length, failed: pending.length, retried, perPort, errors: [...errors.entries()].slice(0, 5) });
}

process.on('message', (message) => {
  switch (message?.type) {
    case 'connect':
      void connect(message).catch((error) => send({ type: 'failed', error: String(error?.stack ?? error) }));
      break;
    case 'expect':
      fleet.resetStats();
      expecting = true;
      send({ type: 'expecting' });
      break;
    case 'stats':
      send({ type: 'stats', ...stats() });
      break;
    case 'close':
      fleet.closeAll();
      process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
