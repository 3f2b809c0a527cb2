import { Module } from '@nestjs/common';
import { NotificationsBatchService } from './notifications-batch.service';
import { NotificationsService } from './notifications.service';

/** Publishing; its HTTP controllers belong to the service API (src/http/service-api.module.ts). */
@Module({
  providers: [NotificationsService, NotificationsBatchService],
  exports: [NotificationsService, NotificationsBatchService],
})
export class NotificationsModule {}
