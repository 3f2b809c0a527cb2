import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';

export interface KubernetesObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [key: string]: unknown };
  [key: string]: unknown;
}

export interface RenderedFile {
  path: string;
  objects: KubernetesObject[];
}

/** Kustomization fields this renderer implements; anything else fails loudly instead of rendering wrong. */
const SUPPORTED_FIELDS = new Set(['apiVersion', 'kind', 'resources', 'namespace', 'images', 'patches']);

/** Cluster-scoped kinds that the `namespace` field leaves alone. */
const CLUSTER_SCOPED_KINDS = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'PriorityClass']);

/**
 * Strategic-merge keys of the lists our patches touch (from the Kubernetes API's
 * x-kubernetes-patch-merge-key); every other list is replaced, as the API does.
 */
const LIST_MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  env: 'name',
  volumes: 'name',
  volumeMounts: 'name',
};

export function readYamlObjects(path: string): KubernetesObject[] {
  return parseYamlObjects(readFileSync(path, 'utf8'), path);
}

/**
 * Renders a kustomization directory the way `kubectl kustomize` does for the subset of
 * features Herald's manifests use, so the suite needs no cluster and no kustomize binary.
 */
export function renderKustomization(directory: string): KubernetesObject[] {
  return renderWithSources(directory).flatMap((file) => file.objects);
}

/** Like renderKustomization, but keeps track of which file each object came from. */
export function renderWithSources(directory: string): RenderedFile[] {
  const kustomization = readYamlObjects(join(directory, 'kustomization.yaml'))[0] as unknown as Record<string, unknown>;
  for (const field of Object.keys(kustomization)) {
    if (!SUPPORTED_FIELDS.has(field)) throw new Error(`${directory}: kustomization field "${field}" is not supported by this renderer`);
  }

  const files: RenderedFile[] = [];
  for (const resource of (kustomization.resources as string[] | undefined) ?? []) {
    const path = resolve(directory, resource);
    if (existsSync(join(path, 'kustomization.yaml'))) files.push(...renderWithSources(path));
    else files.push({ path, objects: readYamlObjects(path) });
  }
  const objects = files.flatMap((file) => file.objects);

  for (const patch of (kustomization.patches as Array<{ path?: string }> | undefined) ?? []) {
    if (!patch.path) throw new Error(`${directory}: only file patches (path:) are supported`);
    for (const patchObject of readYamlObjects(resolve(directory, patch.path))) {
      const target = objects.find((object) => object.kind === patchObject.kind && object.metadata.name === patchObject.metadata.name);
      if (!target) throw new Error(`${patch.path}: no ${patchObject.kind}/${patchObject.metadata.name} to patch`);
      replaceContents(target, strategicMerge(target, patchObject) as KubernetesObject);
    }
  }

  for (const image of (kustomization.images as Array<{ name: string; newName?: string; newTag?: string }> | undefined) ?? []) {
    for (const container of objects.flatMap(containersOf)) {
      const [name, tag] = splitImage(container.image);
      if (name === image.name) container.image = `${image.newName ?? name}:${image.newTag ?? tag}`;
    }
  }

  const namespace = kustomization.namespace as string | undefined;
  if (namespace) {
    for (const object of objects) {
      if (object.kind === 'Namespace') continue;
      if (!CLUSTER_SCOPED_KINDS.has(object.kind)) object.metadata.namespace = namespace;
    }
  }
  return files;
}

/**
 * What `kubectl kustomize` prints for a kustomization, or undefined when kubectl is absent.
 * Run from the repository root with a relative path, the way the fixture header tells people to.
 */
export function kubectlKustomize(directory: string): string | undefined {
  try {
    return execFileSync('kubectl', ['kustomize', relative(repositoryRoot, directory)], {
      cwd: repositoryRoot,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 15000,
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Where kubectl's rendering of a kustomization is committed, named after its path from the repository root. */
export function kustomizeFixturePath(directory: string): string {
  return join(__dirname, '..', 'fixtures', 'kubectl-kustomize', `${relative(repositoryRoot, directory)}.yaml`);
}

/** The command that rewrites every fixture from the installed kubectl. */
export const REGENERATE_FIXTURES_COMMAND = 'REGENERATE_KUSTOMIZE_FIXTURES=1 npm run jest -- test/deploy/manifests.e2e-spec.ts';

/** Writes kubectl's output as the fixture, under a header that says where it came from and how to redo it. */
export function writeKustomizeFixture(directory: string, output: string): void {
  const command = `kubectl kustomize ${relative(repositoryRoot, directory)}`;
  const header = [
    `# Output of \`${command}\`, run from the repository root.`,
    '# Committed so that the suite compares its renderer with kubectl even where kubectl is not',
    '# installed; where it is, the suite fails when this file no longer matches kubectl.',
    '# Regenerate after changing the manifests (needs kubectl on PATH):',
    `#   ${REGENERATE_FIXTURES_COMMAND}`,
  ];
  const path = kustomizeFixturePath(directory);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${header.join('\n')}\n${output}`);
}

export function readKustomizeFixture(directory: string): KubernetesObject[] {
  const path = kustomizeFixturePath(directory);
  // A new overlay needs its fixture; say how to make it rather than fail with a bare ENOENT.
  if (!existsSync(path)) throw new Error(`${relative(repositoryRoot, path)} is missing; create it with: ${REGENERATE_FIXTURES_COMMAND}`);
  return readYamlObjects(path);
}

export function parseYamlObjects(text: string, source: string): KubernetesObject[] {
  return parseAllDocuments(text)
    .map((document) => {
      if (document.errors.length > 0) throw new Error(`${source}: ${document.errors[0].message}`);
      return document.toJS() as KubernetesObject | null;
    })
    .filter((object): object is KubernetesObject => object !== null);
}

export function containersOf(object: KubernetesObject): Array<Record<string, any>> {
  const podSpec = podSpecOf(object);
  return podSpec ? [...(podSpec.initContainers ?? []), ...(podSpec.containers ?? [])] : [];
}

export function podSpecOf(object: KubernetesObject): Record<string, any> | undefined {
  const spec = object.spec as Record<string, any> | undefined;
  if (object.kind === 'Pod') return spec;
  return spec?.template?.spec;
}

function splitImage(image: string): [string, string] {
  const colon = image.lastIndexOf(':');
  return colon > image.lastIndexOf('/') ? [image.slice(0, colon), image.slice(colon + 1)] : [image, 'latest'];
}

function strategicMerge(base: unknown, patch: unknown, key?: string): unknown {
  if (patch === null) return undefined;
  if (Array.isArray(patch)) {
    const mergeKey = key ? LIST_MERGE_KEYS[key] : undefined;
    if (!mergeKey || !Array.isArray(base)) return patch;
    const merged = [...base];
    for (const item of patch) {
      const index = merged.findIndex((existing) => existing[mergeKey] === item[mergeKey]);
      if (index === -1) merged.push(item);
      else merged[index] = strategicMerge(merged[index], item);
    }
    return merged;
  }
  if (isPlainObject(patch) && isPlainObject(base)) {
    const merged: Record<string, unknown> = { ...base };
    for (const [field, value] of Object.entries(patch)) {
      const next = strategicMerge(base[field], value, field);
      if (next === undefined) delete merged[field];
      else merged[field] = next;
    }
    return merged;
  }
  return patch;
}

function replaceContents(target: Record<string, unknown>, source: Record<string, unknown>): void {
  for (const field of Object.keys(target)) delete target[field];
  Object.assign(target, source);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export const deployDirectory = resolve(__dirname, '..', '..', '..', 'deploy');
export const repositoryRoot = dirname(deployDirectory);
