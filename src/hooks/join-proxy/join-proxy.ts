import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { JoinProxyAnswer, JoinProxyRequest, isPersonalRoom } from '@herald/client/protocol';
import { Principal } from '../../auth/principal';
import { HeraldConfig, JoinProxySettings } from '../../config/herald.config';
import { JoinAuthorizer } from '../../rooms/join-authorizer';
import { RoomError } from '../../rooms/rooms.errors';
import { HookClient } from '../hook.client';
import { describeHookError, requestDeadline } from '../hook-request';
import { JoinDecisionCache } from './join-decision.cache';
import { JoinProxyMetrics } from './join-proxy.metrics';
import { joinDecisionKey, joinRequestKey } from './join-request.key';
import { RequestSlots } from './request-slots';

/** Longest reuse of an allow, whatever ttl the backend asks for. */
export const JOIN_PROXY_MAX_TTL_S = 86_400;
/** Largest answer read from the backend; `{"allow":true,"ttl":60}` needs 25 bytes. */
const MAX_ANSWER_BYTES = 16 * 1024;

type Decision = { allow: true } | { allow: false; code: 'forbidden' | 'unavailable'; why: string };

/**
 * The join proxy of section 8: a join of a room matching JOIN_PROXY_ROOMS that the token does
 * not grant is decided by the backend. POST {user, room, claims}, signed like the webhooks;
 * 200 {"allow": true} admits, {"allow": false} or a 4xx but 429 answers `forbidden`, a 429, a
 * 5xx, no answer within JOIN_PROXY_TIMEOUT_MS or an unreadable answer `unavailable`. The backend
 * decides on the claims, so a decision is shared only between joins it would see as the same:
 * concurrent joins with the same user, room and claims share one request, and an allow with
 * `ttl` is reused for the same user, room and claims but for iat, exp and nbf (see
 * join-request.key.ts). At most JOIN_PROXY_CONCURRENCY requests are open at a time; the others
 * wait their turn within the same JOIN_PROXY_TIMEOUT_MS (RequestSlots).
 */
@Injectable()
export class JoinProxy extends JoinAuthorizer implements OnApplicationShutdown {
  private readonly logger = new Logger(JoinProxy.name);
  private readonly settings: JoinProxySettings;
  private readonly cache: JoinDecisionCache;
  private readonly asking = new Map<string, Promise<Decision>>();
  private readonly shutdown = new AbortController();
  private readonly slots: RequestSlots;
  /** As many connections as slots: a request given a slot may wait a moment for a connection, never open one more. */
  private readonly backend: HookClient;
  /** Joins given no decision since the proxy last gave one: the first is logged, the rest counted. */
  private undecided = 0;

  constructor(
    config: HeraldConfig,
    private readonly metrics: JoinProxyMetrics,
  ) {
    super();
    this.settings = config.joinProxy!;
    this.cache = new JoinDecisionCache(this.settings.cacheSize);
    // A join left with under a tenth of its timeout when a slot frees is not sent (RequestSlots).
    this.slots = new RequestSlots(this.settings.concurrency, this.settings.timeoutMs / 10);
    this.backend = new HookClient(this.settings.url, this.settings.secret, this.settings.concurrency);
    metrics.countWaiting = () => this.slots.queued;
  }

  covers(room: string): boolean {
    // Another user's personal room is never anyone's to grant (section 2).
    if (isPersonalRoom(room)) return false;
    return this.settings.rooms.some((pattern) => (pattern.endsWith('*') ? room.startsWith(pattern.slice(0, -1)) : room === pattern));
  }

  async authorize(principal: Principal, room: string): Promise<void> {
    const request: JoinProxyRequest = { user: principal.user, room, claims: { ...(principal.claims ?? {}) } };
    const decisionKey = joinDecisionKey(request);
    if (this.cache.allows(decisionKey, Date.now())) {
      this.metrics.cacheHits.inc();
      return;
    }
    const requestKey = joinRequestKey(request);
    let decision = this.asking.get(requestKey);
    if (!decision) {
      decision = this.ask(request, decisionKey).finally(() => this.asking.delete(requestKey));
      this.asking.set(requestKey, decision);
    }
    const answer = await decision;
    if (!answer.allow) throw new RoomError(answer.code, answer.why);
  }

  onApplicationShutdown(): void {
    // Joins still waiting answer `unavailable` at once.
    this.shutdown.abort();
    this.backend.close();
    this.cache.clear();
  }

  private async ask(request: JoinProxyRequest, decisionKey: string): Promise<Decision> {
    const { room } = request;
    let stopTimer: (() => void) | undefined;
    let release: (() => void) | undefined;
    // One deadline for the wait for a slot and the request: a join hears within the timeout.
    const deadline = requestDeadline(this.shutdown.signal, this.settings.timeoutMs);
    const { signal } = deadline;
    try {
      release = await this.slots.acquire(signal, Date.now() + this.settings.timeoutMs);
      stopTimer = this.metrics.seconds.startTimer();
      const response = await this.backend.post(JSON.stringify(request), signal);
      // 429 says "not now", as a 5xx does: the client may retry, so it is no refusal.
      if (response.status >= 400 && response.status < 500 && response.status !== 429) {
        await response.discard();
        return this.deny(`The backend refused ${room} (HTTP ${response.status})`);
      }
      if (!response.ok) {
        await response.discard();
        return this.unavailable(room, `HTTP ${response.status}`);
      }
      const text = await response.text(MAX_ANSWER_BYTES);
      if (text === undefined) return this.unavailable(room, `an answer over ${MAX_ANSWER_BYTES} bytes`);
      const answer = parseAnswer(text);
      if (!answer) return this.unavailable(room, 'an answer that is not {"allow": boolean, "ttl"?: seconds}');
      if (!answer.allow) return this.deny(`The backend refused ${room}`);
      this.decided();
      this.metrics.answers.inc({ answer: 'allow' });
      if (answer.ttl !== undefined && answer.ttl > 0) {
        const now = Date.now();
        this.cache.remember(decisionKey, now + Math.min(answer.ttl, JOIN_PROXY_MAX_TTL_S) * 1000, now);
      }
      return { allow: true };
    } catch (error) {
      // The pod is stopping: no fault of the backend's, so neither logged nor counted as its answer.
      if (this.shutdown.signal.aborted) return { allow: false, code: 'unavailable', why: `Cannot decide on ${room} now: this pod is stopping` };
      // By name, not instanceof: the error may come from another realm (test runners' VM contexts).
      const timedOut = (error as { name?: unknown } | null)?.name === 'TimeoutError';
      return this.unavailable(room, timedOut ? `no answer within ${this.settings.timeoutMs} ms` : describeHookError(error), timedOut ? 'timeout' : 'error');
    } finally {
      deadline.end();
      stopTimer?.();
      release?.();
    }
  }

  private deny(why: string): Decision {
    this.decided();
    this.metrics.answers.inc({ answer: 'deny' });
    return { allow: false, code: 'forbidden', why };
  }

  private unavailable(room: string, problem: string, answer: 'timeout' | 'error' = 'error'): Decision {
    this.metrics.answers.inc({ answer });
    // Once per run of failures: a proxy that is down fails every join, up to 20 a second per connection.
    if (this.undecided++ === 0) this.logger.warn({ message: 'Join proxy gave no decision; later ones are counted until it decides again', room, problem });
    return { allow: false, code: 'unavailable', why: `Cannot decide on ${room} now: the join proxy gave ${problem.startsWith('no answer') ? 'no answer' : 'no decision'}` };
  }

  /** The proxy decided (allow or deny): the end of a run of failures, if one was under way. */
  private decided(): void {
    if (this.undecided === 0) return;
    // Every run, one failure long too: it closes the warning its first failure opened.
    this.logger.warn({ message: 'Join proxy deciding again', joinsWithoutDecision: this.undecided });
    this.undecided = 0;
  }
}

function parseAnswer(text: string): JoinProxyAnswer | undefined {
  let answer: unknown;
  try {
    answer = JSON.parse(text);
  } catch {
    return undefined; // not JSON: the caller says so
  }
  if (typeof answer !== 'object' || answer === null || typeof (answer as JoinProxyAnswer).allow !== 'boolean') return undefined;
  const { allow, ttl } = answer as { allow: boolean; ttl?: unknown };
  // Any JSON number is a ttl: 0 or less reuses nothing, and one past a day (1e309 reads as
  // Infinity) is cut to a day where it is used.
  if (ttl !== undefined && typeof ttl !== 'number') return undefined;
  return ttl === undefined ? { allow } : { allow, ttl };
}
