import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Parser, DiagnosticSeverity } from '@asyncapi/parser';
import { parse } from 'yaml';
import {
  CLIENT_EVENTS,
  CloseCode,
  ERROR_CODES,
  type Ack,
  type ChatMessage,
  type ClientEventName,
  type ErrorData,
  type InboxEvent,
  type Joined,
  type JoinRequest,
  type Left,
  type LeaveRequest,
  type MessageRequest,
  type Notification,
  type PresenceEvent,
  type Refreshed,
  type RecoveryNotice,
  type RefreshRequest,
  type ServerEventName,
  type Welcome,
} from '@herald/client/protocol';
import { eventually } from '../support/eventually';
import { createTestApp } from '../support/test-app';
import { signToken } from '../support/tokens';
import { connectClient } from '../support/ws-client';

const source = readFileSync(join(__dirname, '..', '..', 'docs', 'asyncapi.yaml'), 'utf8');
const spec = parse(source) as {
  info: { 'x-close-codes': Array<{ code: number; reason: string; advice: string }> };
  components: { messages: Record<string, { name: string; payload: { $ref: string } }>; schemas: Record<string, Schema> };
  operations: Record<string, { action: 'send' | 'receive'; messages: Array<{ $ref: string }>; reply?: { messages: Array<{ $ref: string }> } }>;
};
interface Schema {
  properties?: Record<string, Schema & { const?: string }>;
  required?: string[];
  $ref?: string;
}

/**
 * Every event and every data field of the wire types, as records the compiler checks against
 * client/src/protocol.ts (`satisfies` fails on a missing or an extra key): when the types
 * change, this test stops compiling until the lists, and so the document, follow.
 */
const SERVER_EVENTS = { welcome: 1, joined: 1, left: 1, ack: 1, refreshed: 1, pong: 1, ping: 1, message: 1, notification: 1, presence: 1, inbox: 1, error: 1, recovery: 1 } satisfies Record<ServerEventName, 1>;
const CLIENT_EVENT_SET = { join: 1, leave: 1, message: 1, refresh: 1, ping: 1, pong: 1 } satisfies Record<ClientEventName, 1>;
const FIELDS = {
  receive: {
    join: { room: 1, since: 1 } satisfies Record<keyof JoinRequest, 1>,
    leave: { room: 1 } satisfies Record<keyof LeaveRequest, 1>,
    message: { room: 1, text: 1 } satisfies Record<keyof MessageRequest, 1>,
    refresh: { token: 1 } satisfies Record<keyof RefreshRequest, 1>,
  },
  send: {
    welcome: { connectionId: 1, user: 1, heartbeatMs: 1, maxMessageBytes: 1, rooms: 1, expiresAt: 1 } satisfies Record<keyof Welcome, 1>,
    joined: { room: 1, seq: 1, recovered: 1, missed: 1 } satisfies Record<keyof Joined, 1>,
    left: { room: 1 } satisfies Record<keyof Left, 1>,
    ack: { seq: 1 } satisfies Record<keyof Ack, 1>,
    refreshed: { expiresAt: 1 } satisfies Record<keyof Refreshed, 1>,
    message: { seq: 1, room: 1, user: 1, name: 1, text: 1, timestamp: 1 } satisfies Record<keyof ChatMessage, 1>,
    notification: { id: 1, seq: 1, room: 1, type: 1, payload: 1, timestamp: 1 } satisfies Record<keyof Notification, 1>,
    presence: { room: 1, user: 1, status: 1, timestamp: 1 } satisfies Record<keyof PresenceEvent, 1>,
    inbox: { unread: 1, read: 1 } satisfies Record<keyof InboxEvent, 1>,
    error: { code: 1, message: 1, event: 1 } satisfies Record<keyof ErrorData, 1>,
    recovery: { room: 1, seq: 1, recovered: 1 } satisfies Record<keyof RecoveryNotice, 1>,
  },
} as const;

const schemaOf = (ref: string): Schema => spec.components.schemas[ref.split('/').at(-1)!];
const messageOf = (ref: string) => spec.components.messages[ref.split('/').at(-1)!];
/** event name -> payload schema, of the messages Herald receives, or sends (replies included). */
function messagesFor(action: 'send' | 'receive'): Map<string, Schema> {
  const found = new Map<string, Schema>();
  for (const operation of Object.values(spec.operations)) {
    const refs = [...(operation.action === action ? operation.messages : []), ...(action === 'send' ? (operation.reply?.messages ?? []) : [])];
    for (const ref of refs) {
      const message = messageOf(ref.$ref);
      found.set(message.name, schemaOf(message.payload.$ref));
    }
  }
  return found;
}

describe('docs/asyncapi.yaml', () => {
  it('is a valid AsyncAPI 3 document', async () => {
    const { document, diagnostics } = await new Parser().parse(source);
    expect(diagnostics.filter((diagnostic) => diagnostic.severity === DiagnosticSeverity.Error).map((diagnostic) => `${diagnostic.path.join('.')}: ${diagnostic.message}`)).toEqual([]);
    expect(document?.version()).toBe('3.0.0');
  });

  it('has every event of the protocol types, each way, and no other', () => {
    expect([...messagesFor('receive').keys()].sort()).toEqual(Object.keys(CLIENT_EVENT_SET).sort());
    expect([...CLIENT_EVENTS].sort()).toEqual(Object.keys(CLIENT_EVENT_SET).sort());
    expect([...messagesFor('send').keys()].sort()).toEqual(Object.keys(SERVER_EVENTS).sort());
  });

  it("has each event's data fields exactly as the protocol types do", () => {
    for (const action of ['receive', 'send'] as const) {
      const messages = messagesFor(action);
      for (const [event, fields] of Object.entries(FIELDS[action])) {
        const schema = messages.get(event)!;
        expect({ event, const: schema.properties?.event.const }).toEqual({ event, const: event });
        expect({ event, fields: Object.keys(schema.properties?.data.properties ?? {}).sort() }).toEqual({ event, fields: Object.keys(fields).sort() });
      }
    }
  });

  it('lists the error codes and the close codes of the protocol types', () => {
    const errorData = schemaOf('errorFrame').properties!.data.properties!.code as { enum: string[] };
    expect(errorData.enum).toEqual([...ERROR_CODES]);
    expect(spec.info['x-close-codes']).toEqual(Object.values(CloseCode));
  });

  it("describes the frames a real server sends", async () => {
    const app = await createTestApp();
    try {
      const client = await connectClient(app.wsUrl, signToken({ sub: 'amy', rooms: ['chat:*'] }));
      client.send({ event: 'join', data: { room: 'chat:1' }, id: 1 });
      await client.next('joined');
      client.send({ event: 'message', data: { room: 'chat:1', text: 'hi' }, id: 2 });
      client.send({ event: 'nonsense' });
      const wanted = ['welcome', 'joined', 'ack', 'message', 'error'];
      await eventually(() => expect(wanted.filter((event) => !client.frames.some((frame) => frame.event === event))).toEqual([]));
      const frames = wanted.map((event) => client.frames.find((frame) => frame.event === event)!);
      const send = messagesFor('send');
      for (const frame of frames) {
        const schema = send.get(frame.event)!;
        const required = schema.properties!.data.required ?? [];
        expect({ event: frame.event, missing: required.filter((field) => !(field in (frame.data as object))) }).toEqual({ event: frame.event, missing: [] });
        expect({ event: frame.event, unknown: Object.keys(frame.data as object).filter((field) => !(field in schema.properties!.data.properties!)) }).toEqual({ event: frame.event, unknown: [] });
      }
      await client.close();
    } finally {
      await app.close();
    }
  });
});
