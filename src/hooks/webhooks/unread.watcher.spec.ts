import { InboxStore } from '../../broker/inbox.store';
import { WebhookSettings } from '../../config/herald.config';
import { UnreadSchedule } from './unread.schedule';
import { UnreadWatcher } from './unread.watcher';
import { UnreadCheck } from './webhook-event';
import { WebhookQueue } from './webhook.queue';

/** A schedule whose writes settle when the test says. */
class HeldSchedule extends UnreadSchedule {
  readonly writes: { checks: UnreadCheck[]; settle: (error?: Error) => void }[] = [];
  add(checks: UnreadCheck[]): Promise<number> {
    return new Promise((resolve, reject) => this.writes.push({ checks, settle: (error) => (error ? reject(error) : resolve(0)) }));
  }
  async claimDue(): Promise<UnreadCheck[]> {
    return [];
  }
  async done(): Promise<void> {}
}

const settings = { unreadAfterS: 60, queueMax: 100 } as WebhookSettings;
const check = (id: string): UnreadCheck => ({ user: 'ann', notification: { id, seq: `e-${id}`, type: 't' } });
const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('UnreadWatcher', () => {
  it('answers a watch once the write that took its check has settled, so the publish is answered after it', async () => {
    const schedule = new HeldSchedule();
    const watcher = new UnreadWatcher(schedule, {} as WebhookQueue, {} as InboxStore, settings, () => undefined);
    let answered = 0;
    void watcher.watch(check('a')).then(() => answered++);
    void watcher.watch(check('b')).then(() => answered++);
    await turn();
    // One write for the turn's checks, not yet settled: nobody is answered.
    expect(schedule.writes.map((write) => write.checks.map((c) => c.notification.id))).toEqual([['a', 'b']]);
    expect(answered).toBe(0);
    // A check watched during that write goes in the next, right after it.
    void watcher.watch(check('c')).then(() => answered++);
    await turn();
    schedule.writes[0].settle();
    await turn();
    expect(answered).toBe(2);
    expect(schedule.writes.map((write) => write.checks.map((c) => c.notification.id))).toEqual([['a', 'b'], ['c']]);
    // A failed write answers all the same (the notification is stored) and keeps its checks for the next look.
    schedule.writes[1].settle(new Error('Redis is down'));
    await turn();
    expect(answered).toBe(3);
    const closing = watcher.close();
    await turn();
    expect(schedule.writes.at(-1)!.checks.map((c) => c.notification.id)).toEqual(['c']);
    schedule.writes.at(-1)!.settle();
    await closing;
  });
});
