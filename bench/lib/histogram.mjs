/**
 * Latency histogram in microseconds, fixed memory whatever the sample count: 10 us buckets up
 * to 100 ms, then 1 ms buckets up to 120 s. Percentiles are bucket upper bounds.
 */
const FINE_US = 10;
const FINE_LIMIT_US = 100_000;
const COARSE_US = 1000;
const COARSE_LIMIT_US = 120_000_000;

export class Histogram {
  fine = new Uint32Array(FINE_LIMIT_US / FINE_US);
  coarse = new Uint32Array(COARSE_LIMIT_US / COARSE_US);
  count = 0;
  maxUs = 0;
  sumUs = 0;

  record(us) {
    if (us < 0) us = 0;
    this.count++;
    this.sumUs += us;
    if (us > this.maxUs) this.maxUs = us;
    if (us < FINE_LIMIT_US) this.fine[Math.floor(us / FINE_US)]++;
    else this.coarse[Math.min(this.coarse.length - 1, Math.floor(us / COARSE_US))]++;
  }

  percentileUs(p) {
    if (this.count === 0) return null;
    const rank = Math.ceil((p / 100) * this.count);
    let seen = 0;
    for (let i = 0; i < this.fine.length; i++) {
      seen += this.fine[i];
      if (seen >= rank) return Math.min((i + 1) * FINE_US, this.maxUs);
    }
    for (let i = 0; i < this.coarse.length; i++) {
      seen += this.coarse[i];
      if (seen >= rank) return Math.min((i + 1) * COARSE_US, this.maxUs);
    }
    return this.maxUs;
  }

  /** The non-empty buckets and totals, small enough to send between processes. */
  toJSON() {
    const nonEmpty = (buckets) => [...buckets.entries()].filter(([, n]) => n > 0);
    return { fine: nonEmpty(this.fine), coarse: nonEmpty(this.coarse), count: this.count, maxUs: this.maxUs, sumUs: this.sumUs };
  }

  /** Adds another histogram's samples, as toJSON() wrote them. */
  merge({ fine, coarse, count, maxUs, sumUs }) {
    for (const [i, n] of fine) this.fine[i] += n;
    for (const [i, n] of coarse) this.coarse[i] += n;
    this.count += count;
    this.sumUs += sumUs;
    if (maxUs > this.maxUs) this.maxUs = maxUs;
    return this;
  }

  /** Summary in milliseconds, rounded to 0.01 ms. */
  summaryMs() {
    const ms = (us) => (us === null ? null : Math.round(us / 10) / 100);
    return {
      samples: this.count,
      p50: ms(this.percentileUs(50)),
      p95: ms(this.percentileUs(95)),
      p99: ms(this.percentileUs(99)),
      max: ms(this.count ? this.maxUs : null),
      mean: ms(this.count ? this.sumUs / this.count : null),
    };
  }
}
