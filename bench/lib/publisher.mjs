import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { publisherToken } from './tokens.mjs';
import { sleep } from './processes.mjs';

const PAD = 'x'.repeat(96);

/**
 * The HTTP publisher, the same for every target: POST /v1/notifications (and, for Herald's
 * batch scenario, POST /v1/notifications/batch) over keep-alive
 * connections. Each payload carries `bench: [n, t]`: a global sequence number (for loss and
 * order) and the send time on this process's monotonic clock (for publish-to-receive latency).
 */
export class Publisher {
  sent = 0;
  accepted = 0;
  failed = 0;
  inFlight = 0;
  lastError;

  constructor(port) {
    this.port = port;
    this.agent = new Agent({ keepAlive: true, maxSockets: 16 });
    this.authorization = `Bearer ${publisherToken()}`;
  }

  /** The notification body for `target` ({rooms} or {users}), numbered and timed. */
  notification(target) {
    const n = this.sent++;
    return { ...target, type: 'bench', payload: { bench: [n, Math.round(performance.now() * 1000) / 1000], text: PAD } };
  }

  /** Publishes to `target` ({rooms} or {users}); resolves to the HTTP status (0 on error). */
  publish(target) {
    return this.post('/v1/notifications', JSON.stringify(this.notification(target)), (status) => {
      if (status === 202) this.accepted++;
      else this.fail(`HTTP ${status}`);
    });
  }

  /** One POST /v1/notifications/batch of a notification per target (Herald only). */
  publishBatch(targets) {
    const body = JSON.stringify({ notifications: targets.map((target) => this.notification(target)) });
    return this.post('/v1/notifications/batch', body, (status, text) => {
      if (status !== 200 && status !== 207) return this.fail(`HTTP ${status}`, targets.length);
      const { accepted, failed } = JSON.parse(text);
      this.accepted += accepted;
      if (failed > 0) this.fail(`HTTP ${status}: ${failed} items failed`, failed);
    });
  }

  fail(reason, count = 1) {
    this.failed += count;
    this.lastError = reason;
  }

  post(path, body, onReply) {
    this.inFlight++;
    return new Promise((resolve) => {
      const req = request(
        { host: '127.0.0.1', port: this.port, path, method: 'POST', agent: this.agent, headers: { authorization: this.authorization, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
        (res) => {
          const chunks = [];
          res.on('data', (chunk) => chunks.push(chunk));
          res.once('end', () => {
            this.inFlight--;
            onReply(res.statusCode, Buffer.concat(chunks).toString());
            resolve(res.statusCode);
          });
        },
      );
      req.once('error', (error) => {
        this.inFlight--;
        this.fail(error.message);
        resolve(0);
      });
      req.end(body);
    });
  }

  /**
   * Publishes at `ratePerS` for `durationMs` (open loop; at most `maxInFlight` requests
   * outstanding, beyond that a publish is skipped and counted as `behind`).
   */
  async atRate(ratePerS, durationMs, targetFor, maxInFlight = 256) {
    const started = performance.now();
    let due = 0;
    let behind = 0;
    while (performance.now() - started < durationMs) {
      const shouldHave = Math.floor(((performance.now() - started) / 1000) * ratePerS);
      while (due < shouldHave) {
        due++;
        if (this.inFlight >= maxInFlight) behind++;
        else this.publish(targetFor(due));
      }
      await sleep(1);
    }
    await this.settle();
    return { behind, elapsedMs: performance.now() - started };
  }

  /**
   * As fast as the whole path allows: a new publish whenever fewer than `window` publishes are
   * still on their way to the receivers (`pendingDeliveries()` counts them), for `durationMs`.
   */
  async asFastAsPossible(durationMs, target, window, pendingPublishes) {
    const started = performance.now();
    while (performance.now() - started < durationMs) {
      if (pendingPublishes() < window && this.inFlight < window) this.publish(target);
      else await new Promise((resolve) => setImmediate(resolve));
    }
    await this.settle();
    return { elapsedMs: performance.now() - started };
  }

  async settle(timeoutMs = 30_000) {
    const deadline = Date.now() + timeoutMs;
    while (this.inFlight > 0 && Date.now() < deadline) await sleep(5);
  }

  close() {
    this.agent.destroy();
  }
}
