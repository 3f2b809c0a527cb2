import 'reflect-metadata';
import { EXCEPTION_FILTERS_METADATA, GUARDS_METADATA, INTERCEPTORS_METADATA, PIPES_METADATA } from '@nestjs/common/constants';
import { HeraldGateway } from './herald.gateway';
import { WsErrorFilter } from './ws-error.filter';
import { WsJwtGuard } from './ws-jwt.guard';

/**
 * The FrameDispatcher hands a plainly valid `join` to HeraldGateway.join itself, running by hand
 * what Nest would run around it: WsJwtGuard's check, the global pipe's short way (JoinDto) and
 * WsErrorFilter's answer. That is only the same thing while the gateway declares exactly those:
 * a guard, filter, interceptor or pipe added to the gateway or to `join` must be added to the
 * dispatcher's short way too (src/gateway/frame.dispatcher.ts), and this test says so.
 */
describe('the join short way in the FrameDispatcher', () => {
  const join = Object.getOwnPropertyDescriptor(HeraldGateway.prototype, 'join')!.value as object;
  const declared = (key: string) => [Reflect.getMetadata(key, HeraldGateway) ?? [], Reflect.getMetadata(key, join) ?? []];

  it('runs what the gateway declares for join: WsJwtGuard and WsErrorFilter, nothing more', () => {
    expect(declared(GUARDS_METADATA)).toEqual([[WsJwtGuard], []]);
    expect(declared(EXCEPTION_FILTERS_METADATA)).toEqual([[WsErrorFilter], []]);
    expect(declared(INTERCEPTORS_METADATA)).toEqual([[], []]);
    expect(declared(PIPES_METADATA)).toEqual([[], []]);
  });
});
