import { CloseCode } from '@herald/client/protocol';
import { ConnectionHub } from '../../src/connections/connection.hub';
import type { TestApp } from '../support/test-app';

/**
 * Closes every connection of `app` with 1012 while the server stays up, as one pod of a
 * deployment does when it drains: its clients reconnect (here to the same server, whose
 * history still holds what was published in between).
 */
export function closeEveryConnection(app: TestApp, how: { code: number; reason: string } = CloseCode.ServiceRestart): number {
  const connections = [...app.app.get(ConnectionHub).all()];
  for (const connection of connections) connection.close(how);
  return connections.length;
}
