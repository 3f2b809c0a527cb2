import { Module } from '@nestjs/common';
import { RoomsModule } from '../rooms/rooms.module';
import { ClientFrames } from './client-frames';
import { HeraldGateway } from './herald.gateway';
import { WsErrorFilter } from './ws-error.filter';
import { WsJwtGuard } from './ws-jwt.guard';

@Module({
  imports: [RoomsModule],
  providers: [HeraldGateway, ClientFrames, WsErrorFilter, WsJwtGuard],
})
export class GatewayModule {}
