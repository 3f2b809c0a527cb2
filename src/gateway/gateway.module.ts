import { Module } from '@nestjs/common';
import { RoomsModule } from '../rooms/rooms.module';
import { CompressionNegotiation } from './compression.negotiation';
import { ConnectionAdmission } from './connection.admission';
import { FrameDispatcher } from './frame.dispatcher';
import { FrameSender } from './frame.sender';
import { HeraldGateway } from './herald.gateway';
import { WsErrorFilter } from './ws-error.filter';
import { WsJwtGuard } from './ws-jwt.guard';

@Module({
  imports: [RoomsModule],
  providers: [HeraldGateway, FrameSender, FrameDispatcher, ConnectionAdmission, CompressionNegotiation, WsErrorFilter, WsJwtGuard],
})
export class GatewayModule {}
