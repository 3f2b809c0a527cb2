import { Global, Module } from '@nestjs/common';
import { RoomsModule } from '../rooms/rooms.module';
import { DrainService } from './drain.service';

@Global()
@Module({ imports: [RoomsModule], providers: [DrainService], exports: [DrainService] })
export class LifecycleModule {}
