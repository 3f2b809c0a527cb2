import { Global, Module } from '@nestjs/common';
import { ConnectionRegistry } from './connection.registry';
import { ExpiryTimers } from './expiry.timers';
import { HeartbeatService } from './heartbeat.service';

@Global()
@Module({
  providers: [ConnectionRegistry, ExpiryTimers, HeartbeatService],
  exports: [ConnectionRegistry, ExpiryTimers],
})
export class ConnectionsModule {}
