import type { KubernetesObject } from './kustomize.render';

interface ModelClass {
  prototype: { validate(this: unknown): void };
}

/**
 * Validates an object against the Kubernetes OpenAPI schema bundled in kubernetes-models and
 * returns one message per problem, unknown fields included.
 *
 * The bundled validators accept unknown fields (the schemas do not set
 * additionalProperties: false), which is exactly how a typo such as `readinessprobe` slips into
 * a cluster unnoticed. So the object is validated through a proxy that records every field the
 * validator looks at; the schema's validator reads each property it declares, so a field it never
 * read is one the schema does not know.
 */
export function validateAgainstSchema(object: KubernetesObject): string[] {
  const model = modelFor(object);
  if (!model) return [`no schema for ${object.apiVersion} ${object.kind}`];

  const visited = new Set<string>();
  const problems: string[] = [];
  try {
    model.prototype.validate.call(recordVisits(object, '', visited));
  } catch (error) {
    problems.push((error as Error).message);
  }
  for (const path of fieldPaths(object, '')) {
    if (!visited.has(path)) problems.push(`unknown field ${path}`);
  }
  return problems;
}

function modelFor(object: KubernetesObject): ModelClass | undefined {
  // Core objects live at kubernetes-models/v1, others at kubernetes-models/<group>/<version>.
  let models: Record<string, ModelClass>;
  try {
    models = require(`kubernetes-models/${object.apiVersion}`);
  } catch {
    // An apiVersion kubernetes-models does not ship is reported by the caller as "no schema".
    return undefined;
  }
  return models[object.kind];
}

function recordVisits(value: unknown, path: string, visited: Set<string>): unknown {
  if (typeof value !== 'object' || value === null) return value;
  return new Proxy(value as Record<string | symbol, unknown>, {
    get(target, property, receiver) {
      const child = Reflect.get(target, property, receiver);
      if (typeof property !== 'string' || !Object.prototype.hasOwnProperty.call(target, property)) return child;
      const childPath = `${path}/${property}`;
      visited.add(childPath);
      return recordVisits(child, childPath, visited);
    },
  });
}

function* fieldPaths(value: unknown, path: string): Generator<string> {
  if (typeof value !== 'object' || value === null) return;
  for (const [key, child] of Object.entries(value)) {
    const childPath = `${path}/${key}`;
    yield childPath;
    yield* fieldPaths(child, childPath);
  }
}
