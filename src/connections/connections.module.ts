import { Global, Module } from '@nestjs/common';
import { ConnectionHub } from './connection.hub';
import { HeartbeatService } from './heartbeat.service';

@Global()
@Module({
  providers: [ConnectionHub, HeartbeatService],
  exports: [ConnectionHub],
})
export class ConnectionsModule {}
