import { WebhookEvent } from '@herald/client/protocol';
import { eventually } from './eventually';
import { HookReceiver } from './hook-receiver';
import { http } from './http';
import { spawnServer } from './spawned-server';
import { createTestApp, TestApp } from './test-app';
import { signToken } from './tokens';
import { connectClient } from './ws-client';

/** Section 8's webhooks, received by a real HTTP server: what every webhook suite shares. */
export const HOOKS_SECRET = 'hooks-secret-for-tests-0123456789';
// Short enough that a killed pod's users go offline within a test, long enough that a pod
// stalled by a busy machine (CI shares two cores) is not taken for dead: its TTL is two of these.
// The pods made in the test process stall together while a spawned pod runs on: at 1000 a
// loaded run had the spawned pod reap both (a user of theirs was told offline) before it was killed.
export const HEARTBEAT_MS = 2000;
export const hookEnv = (receiver: HookReceiver, extra: Record<string, string> = {}) => ({
  WEBHOOK_URL: receiver.url,
  HOOKS_SECRET,
  WEBHOOK_BATCH_MS: '50',
  WEBHOOK_TIMEOUT_MS: '1000',
  HEARTBEAT_MS: String(HEARTBEAT_MS),
  ...extra,
});
export const user = (sub: string, rooms?: string[]) => signToken({ sub, ...(rooms ? { rooms } : {}) });

/** `type subject` of each accepted event about `subject` (a user or room), in arrival order. */
export function about(receiver: HookReceiver, subject: string, events = receiver.accepted): string[] {
  return events.filter((event) => subjectOf(event) === subject).map((event) => `${event.type} ${subject}`);
}

export function subjectOf(event: WebhookEvent): string {
  return 'room' in event ? event.room : event.user;
}

export interface WebhookPods {
  readonly receiver: HookReceiver;
  readonly pods: readonly TestApp[];
}

/**
 * Two pods sharing one Redis (in whichever topology `redisEnv` names, read once the suite's Redis
 * is up), their webhooks received by one receiver: events are sent once per id, counts are
 * cluster-wide, and a killed pod's queued events and users are not lost. Call inside a describe;
 * the returned fixture lets a suite add cases of its own.
 */
export function webhooksAcrossPods(redisEnv: () => Record<string, string>): WebhookPods {
  let receiver: HookReceiver;
  let pods: TestApp[] = [];

  beforeAll(async () => {
    receiver = await HookReceiver.start();
    pods = await Promise.all([0, 1].map(() => createTestApp({ ...redisEnv(), ...hookEnv(receiver) })));
  }, 30_000);
  afterAll(async () => {
    await Promise.all(pods.map((pod) => pod.close()));
    await receiver?.close();
  });
  afterEach(() => {
    receiver.answer = () => ({ status: 200 });
  });

  it('gives two tabs of one user on two pods one user.online and one user.offline, each sent once', async () => {
    const [a, b] = pods;
    const onA = await connectClient(a.wsUrl, user('tabby'));
    const onB = await connectClient(b.wsUrl, user('tabby'));
    await onA.join('public:shared');
    await onB.join('public:shared');
    await eventually(() => expect(about(receiver, 'tabby')).toEqual(['user.online tabby']));
    await onA.close();
    await onB.close();
    await eventually(() => expect(about(receiver, 'tabby')).toEqual(['user.online tabby', 'user.offline tabby']));
    await eventually(() => expect(about(receiver, 'public:shared')).toEqual(['room.occupied public:shared', 'room.vacated public:shared']));
    // Sent by one pod each: no event reached the receiver twice in accepted requests.
    const ids = receiver.requests.flatMap((request) => request.body.events.map((event: WebhookEvent) => event.id));
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("keeps a killed pod's queued events and reports its users offline once its counts expire", async () => {
    const [a] = pods;
    receiver.answer = () => ({ status: 503 });
    const doomed = await spawnServer({ ...redisEnv(), ...hookEnv(receiver), LOG_LEVEL: 'error' });
    try {
      const victim = await connectClient(doomed.wsUrl, user('kim'));
      await victim.join('public:crash');
      const watcher = await connectClient(a.wsUrl, user('wanda'));
      // Queued in Redis and refused at least once, whichever pod was sending.
      await eventually(() => expect(receiver.events().filter((event) => subjectOf(event) === 'kim').map((event) => event.type)).toContain('user.online'), 10_000);

      doomed.child.kill('SIGKILL');
      await doomed.exited;
      receiver.answer = () => ({ status: 200 });
      await eventually(() => expect(about(receiver, 'kim')).toEqual(['user.online kim', 'user.offline kim']), 15_000);
      expect(about(receiver, 'public:crash')).toEqual(['room.occupied public:crash', 'room.vacated public:crash']);
      expect(about(receiver, 'wanda')).toEqual(['user.online wanda']);
      await watcher.close();
    } finally {
      doomed.child.kill('SIGKILL');
    }
  }, 30_000);

  return {
    get receiver() {
      return receiver;
    },
    get pods() {
      return pods;
    },
  };
}

/**
 * An event queued while the receiver refuses it survives a crash of the Redis primary holding
 * the queue: `crashPrimary` (given the event's id) sees it replicated, kills the primary with -9
 * and waits for the topology to serve again; the event then goes out under the same id, and the
 * user's last word is `user.offline`.
 */
export async function expectQueuedEventToSurvivePrimaryCrash(hooks: WebhookPods, name: string, crashPrimary: (eventId: string) => Promise<void>): Promise<void> {
  const { receiver, pods } = hooks;
  receiver.answer = () => ({ status: 503 });
  const client = await connectClient(pods[0].wsUrl, user(name));
  const refused = await eventually(() => {
    const event = receiver.events().find((candidate) => subjectOf(candidate) === name && candidate.type === 'user.online');
    expect(event).toBeDefined();
    return event!;
  }, 10_000);
  await crashPrimary(refused.id);
  receiver.answer = () => ({ status: 200 });
  await eventually(() => expect(receiver.accepted.map((event) => event.id)).toContain(refused.id), 30_000);
  await client.close();
  // A failover longer than two heartbeats may have had a pod taken for dead meanwhile (an
  // offline and online again); what counts is that the last word is offline.
  await eventually(() => expect(about(receiver, name).at(-1)).toBe(`user.offline ${name}`), 30_000);
  expect(about(receiver, name)[0]).toBe(`user.online ${name}`);
}

/**
 * `waiting`, whose failure also says what each pod's metrics and the receiver's requests held then:
 * a wait that times out on a busy CI machine should show which side stopped (queueing, leasing,
 * posting) without a rerun.
 */
export async function explainedOnFailure<T>(hooks: WebhookPods, waiting: Promise<T>): Promise<T> {
  try {
    return await waiting;
  } catch (error) {
    const states = await Promise.all(
      hooks.pods.map(async (pod, index) => {
        const metrics = await http('GET', `${pod.url}/metrics`).then((reply) => String(reply.body), (failure: unknown) => `no metrics: ${String(failure)}`);
        const lines = metrics.split('\n').filter((line) => /^herald_(webhook|redis|broker|connections)/.test(line) && !line.includes('_bucket'));
        return `pod ${index}:\n  ${lines.join('\n  ')}`;
      }),
    );
    const received = hooks.receiver.requests.map((request) => `${request.body?.events?.length ?? 0}: ${(request.body?.events ?? []).map((event: WebhookEvent) => `${event.type} ${subjectOf(event)}`).join(', ')}`);
    (error as Error).message += `\n\n${states.join('\n')}\nreceiver requests:\n  ${received.join('\n  ')}`;
    throw error;
  }
}
