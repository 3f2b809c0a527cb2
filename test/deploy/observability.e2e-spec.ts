import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { deployDirectory, readYamlObjects, repositoryRoot } from './support/kustomize.render';
import { alertRules, allQueries, dashboard } from './support/observability.queries';
import { appMetricFamilies, cadvisorFamilies, PROMISED_METRICS, promisedFamilies } from './support/promql.metrics';

const histograms = new Set(PROMISED_METRICS.histograms);
/** The placeholder base the alerts file and docs/operations.md tell operators to replace. */
const RUNBOOK_PAGE = 'https://github.com/your-org/herald/blob/main/docs/operations.md';
const operations = readFileSync(join(repositoryRoot, 'docs', 'operations.md'), 'utf8');

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
const anchors = new Set(
  [...operations.matchAll(/^#{1,6}\s+(.+)$/gm)].map(([, heading]) => heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-')),
);

function bytes(quantity: string): number {
  const units: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30 };
  const [, value, unit] = quantity.match(/^(\d+)(Ki|Mi|Gi)?$/)!;
  return Number(value) * (unit ? units[unit] : 1);
}

function threshold(alert: string): number {
  const rule = alertRules().find((candidate) => candidate.alert === alert)!;
  return Number(rule.expr.match(/>\s*([\d.e]+)\s*$/)![1]);
}

describe('Prometheus alerts', () => {
  const rules = alertRules();

  it('have unique names, a severity, a summary and a description', () => {
    expect(new Set(rules.map((rule) => rule.alert)).size).toBe(rules.length);
    for (const rule of rules) {
      expect({ alert: rule.alert, severity: rule.labels?.severity }).toEqual({ alert: rule.alert, severity: expect.stringMatching(/^(critical|warning|info)$/) });
      expect(rule.annotations).toEqual(expect.objectContaining({ summary: expect.any(String), description: expect.any(String) }));
      expect(rule.for).toMatch(/^\d+[smh]$/);
    }
  });

  it('each link to the section of docs/operations.md that says what to do, under one absolute base to replace', () => {
    for (const rule of rules) {
      // Alertmanager and Grafana show the link as it is: it must be absolute to be followed.
      const [address, anchor] = rule.annotations!.runbook_url.split('#');
      expect({ alert: rule.alert, address, documented: anchors.has(anchor) }).toEqual({ alert: rule.alert, address: RUNBOOK_PAGE, documented: true });
    }
  });

  it('fire before the limits the manifests set are reached', () => {
    const [deployment] = readYamlObjects(join(deployDirectory, 'k8s', 'base', 'deployment.yaml')) as any[];
    const [config] = readYamlObjects(join(deployDirectory, 'k8s', 'base', 'configmap.yaml')) as any[];
    const memoryLimit = bytes(deployment.spec.template.spec.containers[0].resources.limits.memory);
    expect(threshold('HeraldMemoryNearLimit')).toBeLessThan(memoryLimit);
    expect(threshold('HeraldMemoryNearLimit')).toBeGreaterThan(0.7 * memoryLimit);
    expect(threshold('HeraldConnectionsNearLimit')).toBeLessThan(Number(config.data.MAX_CONNECTIONS));
  });
});

describe('Grafana dashboard', () => {
  const { panels, uid, templating } = dashboard();

  it('has a stable uid and unique panel ids', () => {
    expect(uid).toMatch(/^[a-z0-9-]{1,40}$/);
    expect(new Set(panels.map((panel) => panel.id)).size).toBe(panels.length);
  });

  it('queries through its datasource variable, filtered by namespace and pod', () => {
    expect(templating.list.map((variable) => variable.name)).toEqual(expect.arrayContaining(['datasource', 'namespace', 'pod']));
    for (const panel of panels.filter((candidate) => candidate.type !== 'row')) {
      expect({ panel: panel.title, uid: panel.datasource?.uid }).toEqual({ panel: panel.title, uid: '${datasource}' });
      for (const target of panel.targets ?? []) expect(target.expr).toContain('namespace="$namespace", pod=~"$pod"');
    }
  });

  it('lays panels out without overlaps inside the 24-column grid', () => {
    const cells = new Map<string, string>();
    for (const panel of panels) {
      const { x, y, w, h } = panel.gridPos;
      expect(x + w).toBeLessThanOrEqual(24);
      for (let row = y; row < y + h; row++) {
        for (let column = x; column < x + w; column++) {
          const taken = cells.get(`${row},${column}`);
          expect({ panel: panel.title, overlaps: taken }).toEqual({ panel: panel.title, overlaps: undefined });
          cells.set(`${row},${column}`, panel.title);
        }
      }
    }
  });

  it('charts every metric the app promises', () => {
    const charted = new Set(panels.flatMap((panel) => (panel.targets ?? []).flatMap((target) => appMetricFamilies(target.expr, histograms))));
    expect([...promisedFamilies()].filter((family) => !charted.has(family))).toEqual([]);
  });
});

describe('alert and dashboard queries', () => {
  it.each(allQueries().map(({ where, expr }) => [where, expr]))('%s reads only metrics the app promises, or cAdvisor\'s', (_where, expr) => {
    const families = appMetricFamilies(expr, histograms);
    expect(families.length + cadvisorFamilies(expr).length).toBeGreaterThan(0);
    expect(families.filter((family) => !promisedFamilies().has(family))).toEqual([]);
  });

  it.each(allQueries().filter(({ expr }) => cadvisorFamilies(expr).length > 0).map(({ where, expr }) => [where, expr]))(
    "%s reads cAdvisor's metrics of the Herald container only",
    (_where, expr) => {
      // cAdvisor exports a series per container of the pod (and one for the pod as a whole): without
      // the container's name, a max or sum would read a series that is not Herald's own.
      const [deployment] = readYamlObjects(join(deployDirectory, 'k8s', 'base', 'deployment.yaml')) as any[];
      const name = deployment.spec.template.spec.containers[0].name;
      for (const family of cadvisorFamilies(expr)) expect(expr).toMatch(new RegExp(`${family}\\{[^}]*\\bcontainer="${name}"`));
    },
  );

  it.each(allQueries().map(({ where, expr }) => [where, expr]))('%s has balanced brackets', (_where, expr) => {
    const closing: Record<string, string> = { ')': '(', ']': '[', '}': '{' };
    const stack: string[] = [];
    for (const character of expr.replace(/"[^"]*"/g, '""')) {
      if ('([{'.includes(character)) stack.push(character);
      else if (character in closing) expect(stack.pop()).toBe(closing[character]);
    }
    expect(stack).toEqual([]);
  });
});
