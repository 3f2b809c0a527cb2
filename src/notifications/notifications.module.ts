import { Module } from '@nestjs/common';
import { NotificationsService } from './notifications.service';

/** Publishing; its HTTP controller belongs to the service API (src/http/service-api.module.ts). */
@Module({
  providers: [NotificationsService],
  exports: [NotificationsService],
})
export class NotificationsModule {}
