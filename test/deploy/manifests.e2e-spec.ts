import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { appEnvironment } from './support/app-environment';
import {
  containersOf,
  deployDirectory,
  type KubernetesObject,
  kubectlKustomize,
  parseYamlObjects,
  podSpecOf,
  readKustomizeFixture,
  readYamlObjects,
  renderKustomization,
  repositoryRoot,
  writeKustomizeFixture,
} from './support/kustomize.render';
import { validateAgainstSchema } from './support/schema.validator';
import { EXIT_MARGIN_S, longestStopS } from './support/stop-time';

const baseDirectory = join(deployDirectory, 'k8s', 'base');
const overlayDirectories = readdirSync(join(deployDirectory, 'k8s', 'overlays')).map((name) => join(deployDirectory, 'k8s', 'overlays', name));
const kustomizations = [baseDirectory, ...overlayDirectories];

/** Paths the app serves on PORT, and what answers there. */
const HEALTH_PATHS = { liveness: '/healthz', readiness: '/readyz' };
/** The browser SDK, which docs/client.md has pages import from Herald's public host. */
const SDK_PATH = '/sdk/herald.js';

const rendered = new Map(kustomizations.map((directory) => [relative(repositoryRoot, directory), renderKustomization(directory)]));
const renderings = [...rendered.entries()];

function yamlFiles(directory: string): string[] {
  return readdirSync(directory).flatMap((name) => {
    const path = join(directory, name);
    if (statSync(path).isDirectory()) return yamlFiles(path);
    return /\.ya?ml$/.test(name) && !name.startsWith('.') ? [path] : [];
  });
}

function find(objects: KubernetesObject[], kind: string, name: string): any {
  const object = objects.find((candidate) => candidate.kind === kind && candidate.metadata.name === name);
  if (!object) throw new Error(`no ${kind}/${name}`);
  return object;
}

function matches(selector: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  return Object.entries(selector).every(([key, value]) => labels?.[key] === value);
}

function heraldPods(objects: KubernetesObject[]): any {
  return find(objects, 'Deployment', 'herald').spec.template;
}

function configOf(objects: KubernetesObject[]): Record<string, string> {
  return find(objects, 'ConfigMap', 'herald-config').data;
}

describe('Kubernetes manifests', () => {
  describe.each(yamlFiles(join(deployDirectory, 'k8s')).map((path) => [relative(repositoryRoot, path), path]))('%s', (_name, path) => {
    it('is valid against the Kubernetes schema, with no unknown fields', () => {
      for (const object of readYamlObjects(path)) {
        if (object.kind === 'Kustomization') continue;
        const isPatch = /patch\.ya?ml$/.test(path);
        const problems = validateAgainstSchema(object).filter((problem) => !isPatch || problem.startsWith('unknown field'));
        expect({ object: `${object.kind}/${object.metadata?.name}`, problems }).toEqual({ object: `${object.kind}/${object.metadata?.name}`, problems: [] });
      }
    });
  });

  describe.each(renderings)('rendered %s', (_name, objects) => {
    it('is valid against the Kubernetes schema, with no unknown fields', () => {
      const problems = objects.flatMap((object) => validateAgainstSchema(object).map((problem) => `${object.kind}/${object.metadata.name}: ${problem}`));
      expect(problems).toEqual([]);
    });

    it('has no two objects of the same kind and name', () => {
      const keys = objects.map((object) => `${object.kind}/${object.metadata.namespace ?? ''}/${object.metadata.name}`);
      expect(keys.filter((key, index) => keys.indexOf(key) !== index)).toEqual([]);
    });

    it('selects its own pods: every workload selector matches its template labels', () => {
      for (const workload of objects.filter((object) => object.kind === 'Deployment')) {
        const spec = workload.spec as any;
        expect(matches(spec.selector.matchLabels, spec.template.metadata.labels)).toBe(true);
        for (const constraint of spec.template.spec.topologySpreadConstraints ?? []) {
          expect(matches(constraint.labelSelector.matchLabels, spec.template.metadata.labels)).toBe(true);
        }
      }
    });

    it('points every Service at the pods and the named ports that exist', () => {
      const workloads = objects.filter((object) => object.kind === 'Deployment');
      for (const service of objects.filter((object) => object.kind === 'Service')) {
        const spec = service.spec as any;
        const targets = workloads.filter((workload) => matches(spec.selector, (workload.spec as any).template.metadata.labels));
        expect({ service: service.metadata.name, targets: targets.length }).toEqual({ service: service.metadata.name, targets: 1 });
        const portNames = containersOf(targets[0]).flatMap((container) => (container.ports ?? []).map((port: any) => port.name));
        for (const port of spec.ports) expect(portNames).toContain(port.targetPort);
      }
    });

    it('covers the Herald pods with the PodDisruptionBudget, NetworkPolicy and autoscaler', () => {
      const labels = heraldPods(objects).metadata.labels;
      expect(matches(find(objects, 'PodDisruptionBudget', 'herald').spec.selector.matchLabels, labels)).toBe(true);
      expect(matches(find(objects, 'NetworkPolicy', 'herald').spec.podSelector.matchLabels, labels)).toBe(true);
      const autoscaler = find(objects, 'HorizontalPodAutoscaler', 'herald');
      expect(autoscaler.apiVersion).toBe('autoscaling/v2');
      expect(find(objects, autoscaler.spec.scaleTargetRef.kind, autoscaler.spec.scaleTargetRef.name)).toBeDefined();
      // A budget that allows as many disruptions as there are pods protects nothing.
      expect(autoscaler.spec.minReplicas).toBeGreaterThan(find(objects, 'PodDisruptionBudget', 'herald').spec.maxUnavailable);
    });

    it('exposes PORT as containerPort http and INTERNAL_PORT as containerPort internal', () => {
      const config = configOf(objects);
      const [container] = containersOf(find(objects, 'Deployment', 'herald'));
      const ports = Object.fromEntries(container.ports.map((port: any) => [port.name, port.containerPort]));
      expect(ports).toEqual({ http: Number(config.PORT), internal: Number(config.INTERNAL_PORT) });
      expect(heraldPods(objects).metadata.annotations['prometheus.io/port']).toBe(config.INTERNAL_PORT);
    });

    it('probes paths the app serves on the public port', () => {
      const [container] = containersOf(find(objects, 'Deployment', 'herald'));
      expect(container.livenessProbe.httpGet).toEqual({ path: HEALTH_PATHS.liveness, port: 'http' });
      expect(container.startupProbe.httpGet).toEqual({ path: HEALTH_PATHS.liveness, port: 'http' });
      expect(container.readinessProbe.httpGet).toEqual({ path: HEALTH_PATHS.readiness, port: 'http' });
    });

    it('rolls out without losing capacity and gives pods time to drain', () => {
      const deployment = find(objects, 'Deployment', 'herald');
      const config = configOf(objects);
      expect(deployment.spec.replicas).toBeGreaterThanOrEqual(3);
      expect(deployment.spec.strategy).toMatchObject({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0 } });
      // The kubelet's SIGKILL must not cut the longest stop these settings allow short.
      expect(deployment.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(longestStopS(config) + EXIT_MARGIN_S);
    });

    it('spreads Herald pods across nodes and zones without blocking scheduling on small clusters', () => {
      const constraints = heraldPods(objects).spec.topologySpreadConstraints;
      expect(constraints.map((constraint: any) => constraint.topologyKey)).toEqual(
        expect.arrayContaining(['kubernetes.io/hostname', 'topology.kubernetes.io/zone']),
      );
      for (const constraint of constraints) expect(constraint.whenUnsatisfiable).toBe('ScheduleAnyway');
    });

    it('runs every container hardened, with requests and limits', () => {
      for (const workload of objects.filter((object) => podSpecOf(object))) {
        const pod = podSpecOf(workload)!;
        expect({ workload: workload.metadata.name, automount: pod.automountServiceAccountToken }).toEqual({ workload: workload.metadata.name, automount: false });
        for (const container of containersOf(workload)) {
          const context = { ...pod.securityContext, ...container.securityContext };
          expect({ container: container.name, ...context }).toMatchObject({
            container: container.name,
            runAsNonRoot: true,
            readOnlyRootFilesystem: true,
            allowPrivilegeEscalation: false,
            capabilities: { drop: ['ALL'] },
            seccompProfile: { type: 'RuntimeDefault' },
          });
          expect(context.privileged ?? false).toBe(false);
          expect(context.capabilities.add ?? []).toEqual([]);
          expect(context.runAsUser ?? 1000).toBeGreaterThan(0);
          expect(container.resources.requests).toEqual(expect.objectContaining({ cpu: expect.anything(), memory: expect.anything() }));
          expect(container.resources.limits).toEqual(expect.objectContaining({ memory: expect.anything() }));
        }
      }
    });

    it('sets only environment variables the app reads', () => {
      const { variables, source } = appEnvironment(repositoryRoot);
      const [container] = containersOf(find(objects, 'Deployment', 'herald'));
      const names = (container.env ?? []).map((variable: any) => variable.name);
      for (const from of container.envFrom) {
        const reference = from.configMapRef ?? from.secretRef;
        const kind = from.configMapRef ? 'ConfigMap' : 'Secret';
        const object =
          objects.find((candidate) => candidate.kind === kind && candidate.metadata.name === reference.name) ??
          readYamlObjects(join(baseDirectory, 'secret.example.yaml')).find((candidate) => candidate.metadata.name === reference.name);
        if (!object) throw new Error(`${kind}/${reference.name} is neither rendered nor in secret.example.yaml`);
        names.push(...Object.keys({ ...(object as any).data, ...(object as any).stringData }));
      }
      expect({ source, unknown: names.filter((name: string) => !variables.has(name)) }).toEqual({ source, unknown: [] });
    });

    it('routes the Ingress to the public port only, including WS_PATH and the SDK, without affinity', () => {
      const ingress = find(objects, 'Ingress', 'herald');
      const backends = ingress.spec.rules.flatMap((rule: any) => rule.http.paths);
      for (const { backend } of backends) {
        const service = find(objects, 'Service', backend.service.name);
        const port = service.spec.ports.find((candidate: any) => candidate.name === backend.service.port.name);
        expect(port?.targetPort).toBe('http');
      }
      const paths = backends.map((path: any) => path.path);
      expect(paths).toEqual(expect.arrayContaining([configOf(objects).WS_PATH, '/v1/inbox', HEALTH_PATHS.liveness, SDK_PATH]));
      expect(paths.filter((path: string) => /^\/(v1\/notifications|v1\/rooms|metrics)/.test(path))).toEqual([]);
      const annotations = Object.keys(ingress.metadata.annotations ?? {});
      expect(annotations.filter((key) => /affinity|session-cookie|upstream-hash-by/.test(key))).toEqual([]);
      for (const service of objects.filter((object) => object.kind === 'Service')) expect((service.spec as any).sessionAffinity ?? 'None').toBe('None');
    });

    it('keeps Ingress timeouts above twice the heartbeat, so idle sockets are not cut', () => {
      const annotations = find(objects, 'Ingress', 'herald').metadata.annotations;
      const heartbeatSeconds = Number(configOf(objects).HEARTBEAT_MS ?? 25000) / 1000;
      for (const key of ['nginx.ingress.kubernetes.io/proxy-read-timeout', 'nginx.ingress.kubernetes.io/proxy-send-timeout']) {
        expect(Number(annotations[key])).toBeGreaterThan(2 * heartbeatSeconds);
      }
    });

    it('opens the public port to all and the internal port only to chosen peers', () => {
      const policy = find(objects, 'NetworkPolicy', 'herald').spec;
      const rulesFor = (port: string) => policy.ingress.filter((rule: any) => rule.ports.some((candidate: any) => candidate.port === port));
      expect(rulesFor('http')).toEqual([expect.not.objectContaining({ from: expect.anything() })]);
      const internal = rulesFor('internal');
      expect(internal.length).toBeGreaterThan(0);
      for (const rule of internal) expect(rule.from?.length).toBeGreaterThan(0);
      expect(policy.policyTypes).toEqual(expect.arrayContaining(['Ingress', 'Egress']));
    });
  });

  it('names every sentinel in the Sentinel overlay, each by its own host, not one Service in front of them', () => {
    // A pod hears only the failovers the sentinels it listens to lead (docs/operations.md).
    const sentinels = configOf(rendered.get('deploy/k8s/overlays/redis-sentinel')!).REDIS_SENTINELS.split(',');
    expect(sentinels.length).toBeGreaterThanOrEqual(3);
    expect(new Set(sentinels.map((address) => address.split(':')[0])).size).toBe(sentinels.length);
  });

  it('keeps the dev overlay at three pods, whatever its smaller requests make of the autoscaler', () => {
    const autoscaler = find(rendered.get('deploy/k8s/overlays/dev')!, 'HorizontalPodAutoscaler', 'herald').spec;
    expect([autoscaler.minReplicas, autoscaler.maxReplicas]).toEqual([3, 3]);
  });

  it('leaves the Secret out of the base, so applying it never overwrites real credentials', () => {
    expect(rendered.get(relative(repositoryRoot, baseDirectory))!.filter((object) => object.kind === 'Secret')).toEqual([]);
  });

  it('holds only placeholders in the example Secret', () => {
    const [secret] = readYamlObjects(join(baseDirectory, 'secret.example.yaml')) as any[];
    for (const [key, value] of Object.entries<string>(secret.stringData)) expect({ key, value }).toEqual({ key, value: expect.stringMatching(/<[^>]+>/) });
  });

  it('renders each kustomization exactly as kubectl kustomize does', () => {
    const sort = (objects: KubernetesObject[]) =>
      [...objects].sort((a, b) => `${a.kind}/${a.metadata.name}`.localeCompare(`${b.kind}/${b.metadata.name}`));
    const regenerate = process.env.REGENERATE_KUSTOMIZE_FIXTURES === '1';
    let compared = 0;
    for (const directory of kustomizations) {
      const name = relative(repositoryRoot, directory);
      // kubectl's output is committed as a fixture, so the renderer is compared with it on machines without kubectl too.
      const output = kubectlKustomize(directory);
      if (regenerate) {
        if (output === undefined) throw new Error('REGENERATE_KUSTOMIZE_FIXTURES needs kubectl on PATH');
        writeKustomizeFixture(directory, output);
      }
      const expected = readKustomizeFixture(directory);
      // Where kubectl is installed, it also vouches for the fixture, so a stale one cannot pass unnoticed.
      if (output !== undefined) {
        expect({ kustomization: name, objects: sort(parseYamlObjects(output, `kubectl kustomize ${name}`)) }).toEqual({
          kustomization: name,
          objects: sort(expected),
        });
      }
      expect(sort(renderKustomization(directory))).toEqual(sort(expected));
      compared++;
    }
    expect(compared).toBe(kustomizations.length);
  });

  it('passes yamllint', () => {
    let output: string;
    try {
      output = execFileSync('yamllint', ['--strict', '-f', 'parsable', '-c', join(deployDirectory, '.yamllint.yaml'), deployDirectory], { encoding: 'utf8' });
    } catch (error) {
      const failure = error as NodeJS.ErrnoException & { stdout?: string };
      // Not a skip: the suite needs yamllint as it needs redis-server and Chromium (.ci/run installs all three).
      if (failure.code === 'ENOENT') throw new Error('yamllint is not on PATH: apt-get install yamllint (README, Prerequisites)');
      throw new Error(`yamllint found problems:\n${failure.stdout ?? failure.message}`);
    }
    expect(output).toBe('');
  });
});
