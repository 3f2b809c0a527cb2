import { Global, Module } from '@nestjs/common';
import { ConnectionRegistry } from './connection.registry';
import { HeartbeatService } from './heartbeat.service';

@Global()
@Module({
  providers: [ConnectionRegistry, HeartbeatService],
  exports: [ConnectionRegistry],
})
export class ConnectionsModule {}
