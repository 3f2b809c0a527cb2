import { HttpException, Injectable, Logger } from '@nestjs/common';
import { PublishBatchItemResult, PublishBatchResponse } from '@herald/client/protocol';
import { Broker, BrokerUnavailableError } from '../broker/broker';
import { carriesId, publishUnavailableMessage, unconfirmedBecauseOf } from '../broker/broker-unavailable.filter';
import { HeraldConfig } from '../config/herald.config';
import { PublishNotificationDto } from './dto/publish-notification.dto';
import { PublishBatchItemError, PublishBatchItemValidator } from './publish-batch-item.validator';
import { NotificationsService } from './notifications.service';
import { PublishConflictError } from './publish-conflict.error';
import { TurnBudget } from '../event-loop/turn-budget';
import { targetRooms } from './notification-targets';

/**
 * Target rooms whose publishes may be in flight at once. A wave's ids are claimed together and
 * its notifications handed to the broker without waiting for each to be stored, so the broker
 * pipelines them (node-redis writes the commands of one tick together) while each notification
 * stays its own atomic publish; the window only bounds how much one request holds in memory and
 * in the Redis queue.
 */
const IN_FLIGHT_TARGETS = 1000;

/** A notification of the batch that passed the single publish's checks. */
interface AcceptedItem {
  index: number;
  notification: PublishNotificationDto;
}

/** Publishes the notifications of one batch request, each exactly as a single publish would. */
@Injectable()
export class NotificationsBatchService {
  private readonly logger = new Logger(NotificationsBatchService.name);
  private readonly validator: PublishBatchItemValidator;

  constructor(
    private readonly notifications: NotificationsService,
    private readonly broker: Broker,
    config: HeraldConfig,
  ) {
    this.validator = new PublishBatchItemValidator(config.maxPublishBytes);
  }

  /**
   * One result per item, in order. Notifications of one batch to the same room are published,
   * and reach its members, in request order (publishWave). Rejects with
   * BrokerUnavailableError (503, nothing stored) when the broker is down before the first item
   * and some item would have been stored.
   * A large batch lets the event loop go round every TURN_BUDGET_MS (its checks and its rooms
   * alike), so other clients are answered while it runs; a small one never waits. `itemBytes`:
   * each item's size as sent (listItemBytesOf), checked against MAX_PUBLISH_BYTES.
   */
  async publish(items: readonly unknown[], itemBytes?: readonly number[]): Promise<PublishBatchResponse> {
    const turn = new TurnBudget();
    if (!this.broker.available) {
      const valid = await this.countValid(items, itemBytes, turn);
      // A batch with nothing to store is answered as when the broker is up, each item its 400,
      // rather than with a 503 that no retry would cure.
      if (valid > 0) {
        this.notifications.countNotStored(valid);
        throw new BrokerUnavailableError();
      }
    }
    const results: PublishBatchItemResult[] = new Array(items.length);
    let wave: AcceptedItem[] = [];
    let waveTargets = 0;
    for (let index = 0; index < items.length; index++) {
      if (turn.spent) await turn.next();
      const checked = this.validator.check(items[index], index, itemBytes?.[index]);
      if (!checked.ok) {
        results[index] = { error: checked.error };
        continue;
      }
      wave.push({ index, notification: checked.notification });
      waveTargets += checked.targets;
      if (waveTargets >= IN_FLIGHT_TARGETS) {
        await this.publishWave(wave, results, turn);
        wave = [];
        waveTargets = 0;
      }
    }
    await this.publishWave(wave, results, turn);
    const failed = results.reduce((count, result) => count + ('error' in result ? 1 : 0), 0);
    return { accepted: results.length - failed, failed, results };
  }

  /**
   * How many items pass a single publish's checks: those a batch refused whole would have tried
   * to store. A single publish that fails them is answered 400 before the broker is asked, and is
   * never counted as not stored; nor are they here.
   */
  private async countValid(items: readonly unknown[], itemBytes: readonly number[] | undefined, turn: TurnBudget): Promise<number> {
    let valid = 0;
    for (let index = 0; index < items.length; index++) {
      if (turn.spent) await turn.next();
      if (this.validator.check(items[index], index, itemBytes?.[index]).ok) valid++;
    }
    return valid;
  }

  /**
   * Claims the wave's ids all at once (one round trip to Redis), then hands each notification to
   * the broker once its id is claimed and the batch's earlier notifications to any of its rooms
   * have been handed to every room: a notification to a room is stored after the batch's earlier
   * ones there, an id or not, while one whose claim or room waits on a silent Redis shard holds
   * only the notifications that share a room with it (in request order it held every later one
   * for a command timeout, and those whose room was on that shard waited a second one).
   * Resolves once each is stored or has failed, its result in `results`.
   */
  private async publishWave(wave: readonly AcceptedItem[], results: PublishBatchItemResult[], turn: TurnBudget): Promise<void> {
    const stored: Promise<void>[] = [];
    // Per room, the handing of the wave's latest notification to it so far.
    const handingTo = new Map<string, Promise<void>>();
    const handings = wave.map(({ index, notification }) => {
      const rooms = targetRooms(notification);
      let earlier: Promise<void>[] | undefined;
      for (const room of rooms) {
        const handing = handingTo.get(room);
        if (handing !== undefined && !earlier?.includes(handing)) (earlier ??= []).push(handing);
      }
      // Settled here: a claim may fail while an earlier notification is still being handed over.
      const claim = this.notifications.claim(notification, rooms).then((claimed) => ({ claimed }), (error: unknown) => ({ error }));
      const handing = (async () => {
        const settled = await claim;
        if (earlier) await Promise.all(earlier);
        if ('error' in settled) {
          results[index] = { error: this.itemError(settled.error, index, notification) };
          return;
        }
        const handed = await this.notifications.hand(settled.claimed, turn);
        stored.push(
          handed.stored.then(
            (published) => void (results[index] = published),
            (error: unknown) => void (results[index] = { error: this.itemError(error, index, notification) }),
          ),
        );
      })();
      for (const room of rooms) handingTo.set(room, handing);
      return handing;
    });
    await Promise.all(handings);
    await Promise.all(stored);
  }

  /** What a single publish of `notification` would have answered, for this item alone. */
  private itemError(error: unknown, index: number, notification: PublishNotificationDto): PublishBatchItemError {
    // The same id earlier with another body: 409, as PublishConflictFilter answers a single publish.
    if (error instanceof PublishConflictError) return { statusCode: 409, message: `notifications.${index}: ${error.message}` };
    // In BrokerUnavailableFilter's words: the error's own message names Redis commands and replies, for the logs.
    if (error instanceof BrokerUnavailableError) {
      return { statusCode: 503, message: `notifications.${index}: ${publishUnavailableMessage(unconfirmedBecauseOf(error), carriesId(notification))}` };
    }
    if (error instanceof HttpException) return { statusCode: error.getStatus(), message: `notifications.${index}: ${messageOf(error)}` };
    this.logger.error({ message: 'Batch item publish failed', index, error: error instanceof Error ? error.message : String(error) });
    return { statusCode: 500, message: `notifications.${index}: internal error` };
  }
}

function messageOf(error: HttpException): string {
  const response = error.getResponse();
  if (typeof response === 'string') return response;
  const message = (response as { message?: unknown }).message;
  return Array.isArray(message) ? message.join('; ') : String(message ?? error.message);
}
