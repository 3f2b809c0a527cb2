/** Metric families the app exports itself (the rest come from kube-state-metrics and friends). */
const APP_METRIC = /\b((?:herald|nodejs|process)_[a-zA-Z0-9_]+)\b/g;

/** Suffixes Prometheus adds to a histogram's or summary's samples. */
const SAMPLE_SUFFIX = /_(?:bucket|sum|count)$/;

/**
 * The app metric families a PromQL expression reads, by their exposition (# TYPE) names:
 * `herald_publish_to_send_seconds_bucket` counts as `herald_publish_to_send_seconds`.
 */
export function appMetricFamilies(expression: string, histogramFamilies: Set<string>): string[] {
  return [...expression.matchAll(APP_METRIC)].map(([, name]) => {
    const family = name.replace(SAMPLE_SUFFIX, '');
    return family !== name && histogramFamilies.has(family) ? family : name;
  });
}

/** Metric families the app promised to export (see docs/operations.md, Metrics). */
export const PROMISED_METRICS = {
  gauges: ['herald_connections', 'herald_rooms', 'herald_broker_up', 'herald_redis_shard_subscriber_up'],
  counters: [
    'herald_frames_in_total',
    'herald_frames_out_total',
    'herald_notifications_published_total',
    'herald_deliveries_total',
    'herald_close_codes_total',
    'herald_history_replays_total',
    'herald_drains_total',
    'herald_rate_limited_total',
    'herald_slow_consumer_closes_total',
    'herald_rejected_connections_total',
    'herald_redis_failovers_total',
    'herald_publishes_refused_replicas_total',
    'herald_publishes_unavailable_total',
  ],
  histograms: ['herald_publish_to_send_seconds'],
  /** prom-client's collectDefaultMetrics(). */
  process: ['process_cpu_seconds_total', 'nodejs_eventloop_lag_p99_seconds', 'process_resident_memory_bytes'],
};

/**
 * The kubelet's cAdvisor metrics the alerts and dashboard read (not the app's: a scrape of the
 * kubelet exports them, with the `namespace`, `pod` and `container` labels of their own).
 */
export const CADVISOR_METRICS = ['container_memory_working_set_bytes'];

/** The cAdvisor metric families a PromQL expression reads. */
export function cadvisorFamilies(expression: string): string[] {
  return CADVISOR_METRICS.filter((family) => new RegExp(`\\b${family}\\b`).test(expression));
}

export function promisedFamilies(): Set<string> {
  return new Set(Object.values(PROMISED_METRICS).flat());
}

/** Family names declared by `# TYPE` lines of a Prometheus text exposition. */
export function exposedFamilies(exposition: string): Map<string, string> {
  const families = new Map<string, string>();
  for (const match of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) families.set(match[1], match[2]);
  return families;
}
