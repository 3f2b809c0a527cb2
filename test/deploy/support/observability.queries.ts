import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { deployDirectory } from './kustomize.render';

export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface DashboardPanel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: { uid: string };
  targets?: Array<{ expr: string; datasource?: { uid: string } }>;
}

export const alertsPath = join(deployDirectory, 'observability', 'herald-alerts.yaml');
export const dashboardPath = join(deployDirectory, 'observability', 'herald-dashboard.json');

export function alertRules(): AlertRule[] {
  const file = parse(readFileSync(alertsPath, 'utf8')) as { groups: Array<{ name: string; rules: AlertRule[] }> };
  return file.groups.flatMap((group) => group.rules);
}

export function dashboard(): { uid: string; title: string; panels: DashboardPanel[]; templating: { list: Array<{ name: string }> } } {
  return JSON.parse(readFileSync(dashboardPath, 'utf8'));
}

/** Every PromQL expression the alerts and the dashboard run. */
export function allQueries(): Array<{ where: string; expr: string }> {
  return [
    ...alertRules().map((rule) => ({ where: `alert ${rule.alert}`, expr: rule.expr })),
    ...dashboard().panels.flatMap((panel) => (panel.targets ?? []).map((target) => ({ where: `panel "${panel.title}"`, expr: target.expr }))),
  ];
}
