import { PUBLISH_TARGETS_MAX, personalRoom } from '@herald/client/protocol';

/** A notification's targets as a publish names them (section 6). */
export interface NotificationTargets {
  rooms?: string[];
  users?: string[];
}

/** Why a notification's targets are unacceptable, or undefined when they are fine. */
function targetsProblem(targets: NotificationTargets): string | undefined {
  const count = targetRooms(targets).length;
  if (count === 0) return 'rooms or users must name at least one target';
  if (count > PUBLISH_TARGETS_MAX) return `rooms and users together must name at most ${PUBLISH_TARGETS_MAX} targets`;
  return undefined;
}

/**
 * The targets rule for a body not yet validated, told beside its fields' own failures (a body
 * `{}` names its missing type and payload and its missing targets at once): undefined unless
 * `rooms` and `users` are each absent or a list of at most 1,000 strings, whose own rules speak
 * otherwise.
 */
export function targetsProblemOfBody(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  const { rooms, users } = body as Record<string, unknown>;
  if (!isStringListOrAbsent(rooms) || !isStringListOrAbsent(users)) return undefined;
  return targetsProblem({ rooms, users });
}

/** Every room a notification goes to, each once: its rooms and its users' personal rooms. */
export function targetRooms({ rooms = [], users = [] }: NotificationTargets): string[] {
  return [...new Set([...rooms, ...users.map(personalRoom)])];
}

/** Absent, or a list of strings no longer than a list's own limit (past it, that limit is told instead). */
function isStringListOrAbsent(value: unknown): value is string[] | undefined {
  return value === undefined || (Array.isArray(value) && value.length <= PUBLISH_TARGETS_MAX && value.every((item) => typeof item === 'string'));
}
