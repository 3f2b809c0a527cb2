import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { isPersonalRoom } from '@herald/client/protocol';
import { InboxStore } from '../../broker/inbox.store';
import { inboxRecipientOf } from '../../inbox/inbox-recipient';
import { EarlyClose } from '../../lifecycle/early-close';
import { HeraldConfig, WebhookSettings } from '../../config/herald.config';
import { NotificationsService, StoredNotification } from '../../notifications/notifications.service';
import { RoomActivity } from '../../rooms/room-activity';
import { RoomsService } from '../../rooms/rooms.service';
import { redactedHookUrl } from '../hook-request';
import { QueueOutcome } from './activity.tracker';
import { UnreadWatcher } from './unread.watcher';
import { WebhookDispatcher } from './webhook.dispatcher';
import { WebhookMetrics } from './webhook.metrics';
import { WebhookDrivers, createWebhookDrivers } from './webhook-drivers';
import { roomKey, userKey } from './webhook-event';

/**
 * The webhooks of section 8, wired to the rest of Herald: room activity feeds the activity
 * tracker (user.online/offline, room.occupied/vacated), stored personal notifications feed the
 * unread watcher (notification.unread), and the dispatcher sends the queue. Listeners only
 * record; all I/O happens on the drivers' own timers.
 */
@Injectable()
export class WebhooksService implements OnModuleInit, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger(WebhooksService.name);
  private readonly settings: WebhookSettings;
  private readonly drivers: WebhookDrivers;
  private readonly dispatcher: WebhookDispatcher;
  private readonly unread: UnreadWatcher | undefined;
  /** Connections counted online, so a close counts down only what an admission counted up. */
  private readonly counted = new Set<string>();
  /** Set while the queue is full, so a long overflow logs once, not once per event. */
  private overflowing = false;
  /** Begun beside the broker engine's close (BrokerModule), so the two sets of last calls to a silent Redis overlap. */
  private readonly closing = new EarlyClose(() => this.close());

  constructor(
    config: HeraldConfig,
    inbox: InboxStore,
    private readonly rooms: RoomsService,
    private readonly notifications: NotificationsService,
    private readonly metrics: WebhookMetrics,
  ) {
    this.settings = config.webhooks!;
    const report = (outcome: QueueOutcome) => this.report(outcome);
    this.drivers = createWebhookDrivers(config, this.settings, report);
    this.dispatcher = new WebhookDispatcher(this.drivers.queue, this.settings, metrics);
    if (this.settings.unreadAfterS > 0) this.unread = new UnreadWatcher(this.drivers.unread, this.drivers.queue, inbox, this.settings, report);
  }

  async onModuleInit(): Promise<void> {
    await this.drivers.connect();
    await this.drivers.tracker.start();
    this.rooms.onActivity((activity) => this.onRoomActivity(activity));
    if (this.unread) this.notifications.onStored((stored) => this.onStored(stored));
    this.dispatcher.start();
    this.unread?.start();
    this.logger.log({ message: 'Webhooks on', url: redactedHookUrl(this.settings.url), unreadAfterS: this.settings.unreadAfterS });
  }

  beforeApplicationShutdown(): void {
    this.closing.start();
  }

  onApplicationShutdown(): Promise<void> {
    return this.closing.finished();
  }

  /**
   * Whatever this pod still counts goes down, so its users' offline events are queued; then the
   * queue is sent (one pod without Redis) or left to the others. With Redis the parts close
   * together, their last calls (the activity hand-over, unread checks, the lease) bounded as a
   * whole by the drivers' lastCallsMs: one after the other, each waited out its own timeouts on a
   * silent Redis (7 s at the defaults).
   */
  private async close(): Promise<void> {
    this.counted.clear();
    const { lastCallsMs } = this.drivers;
    if (lastCallsMs === undefined) {
      await this.drivers.tracker.close();
      await this.unread?.close();
      await this.dispatcher.close();
      return this.drivers.close();
    }
    const deadline = Date.now() + lastCallsMs;
    const parts = Promise.all([this.drivers.tracker.close(), this.unread?.close(), this.dispatcher.close()]);
    // Cut past the deadline: what still waits on a silent Redis fails, and the parts finish.
    const cut = setTimeout(() => this.drivers.destroy(), lastCallsMs);
    await parts.finally(() => clearTimeout(cut));
    // Within what is left of it: a graceful close waits for replies a silent Redis never sends.
    await this.drivers.close(Math.max(0, deadline - Date.now()));
  }

  private onRoomActivity(activity: RoomActivity): void {
    switch (activity.kind) {
      case 'connected':
        if (this.counted.has(activity.connectionId)) return;
        this.counted.add(activity.connectionId);
        return this.drivers.tracker.change(userKey(activity.user), 1);
      case 'disconnected':
        if (!this.counted.delete(activity.connectionId)) return;
        return this.drivers.tracker.change(userKey(activity.user), -1);
      case 'joined':
      case 'left':
        // Personal rooms are the user's own connections: user.online/offline covers them.
        if (isPersonalRoom(activity.room)) return;
        return this.drivers.tracker.change(roomKey(activity.room), activity.kind === 'joined' ? 1 : -1);
    }
  }

  /** Resolves once the notification's unread check is written (UnreadWatcher.watch): its publish waits for it. */
  private onStored({ room, id, seq, type }: StoredNotification): Promise<void> | undefined {
    const user = inboxRecipientOf(room);
    return user === undefined ? undefined : this.unread!.watch({ user, notification: { id, seq, type } });
  }

  private report({ queued, dropped }: QueueOutcome): void {
    if (queued > 0) this.metrics.queued.inc(queued);
    if (dropped > 0) {
      this.metrics.dropped.inc({ reason: 'queue_full' }, dropped);
      if (!this.overflowing) this.logger.warn({ message: 'Webhook queue full (WEBHOOK_QUEUE_MAX): dropping the oldest events until it drains', queueMax: this.settings.queueMax });
      this.overflowing = true;
    } else if (queued > 0 && this.overflowing) {
      this.overflowing = false;
      this.logger.log({ message: 'Webhook queue has room again' });
    }
  }
}
