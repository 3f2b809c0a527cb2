import { markdownSection } from '../support/markdown-blocks';
import { appEnvironment } from './support/app-environment';
import { repositoryRoot } from './support/kustomize.render';
import { alertRules } from './support/observability.queries';

const section = (heading: string) => markdownSection('docs/operations.md', heading);

describe('docs/operations.md', () => {
  it('deploys in five numbered steps', () => {
    const steps = [...section('Deploy in five steps').matchAll(/^(\d)\. \*\*/gm)].map((match) => Number(match[1]));
    expect(steps).toEqual([1, 2, 3, 4, 5]);
  });

  it('documents every setting the app reads, and no other', () => {
    const { variables, source } = appEnvironment(repositoryRoot);
    const documented = new Set([...section('Settings').matchAll(/^\| `([A-Z][A-Z0-9_]*)` \|/gm)].map((match) => match[1]));
    expect({ source, missing: [...variables].filter((name) => !documented.has(name)) }).toEqual({ source, missing: [] });
    expect({ source, extra: [...documented].filter((name) => !variables.has(name)) }).toEqual({ source, extra: [] });
  });

  it('explains every alert under a heading of its own name', () => {
    const headings = new Set([...section('Alerts').matchAll(/^### (\w+)$/gm)].map((match) => match[1]));
    expect(alertRules().map((rule) => rule.alert).filter((alert) => !headings.has(alert))).toEqual([]);
  });

  it('takes sizing from the benchmarks page', () => {
    expect(section('Sizing per pod')).toContain('(benchmarks.md)');
  });

  it('covers Redis outages, rolling updates, sticky sessions and scaling beyond one Redis', () => {
    for (const heading of ['Redis outage', 'Probes, shutdown and rolling updates', 'Why no sticky sessions', 'Scaling limits and the path beyond one Redis']) {
      expect(section(heading).length).toBeGreaterThan(500);
    }
  });
});
