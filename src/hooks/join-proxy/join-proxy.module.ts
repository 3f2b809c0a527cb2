import { Global, Module } from '@nestjs/common';
import { JoinAuthorizer } from '../../rooms/join-authorizer';
import { JoinProxy } from './join-proxy';
import { JoinProxyMetrics } from './join-proxy.metrics';

/** Section 8's join proxy; imported only when JOIN_PROXY_URL is set, so RoomsService finds a JoinAuthorizer then. */
@Global()
@Module({
  providers: [JoinProxy, JoinProxyMetrics, { provide: JoinAuthorizer, useExisting: JoinProxy }],
  exports: [JoinAuthorizer],
})
export class JoinProxyModule {}
