import { Module } from '@nestjs/common';
import { NotificationsBatchController } from './notifications-batch.controller';
import { NotificationsBatchService } from './notifications-batch.service';
import { NotificationsController } from './notifications.controller';
import { NotificationsService } from './notifications.service';

@Module({
  controllers: [NotificationsController, NotificationsBatchController],
  providers: [NotificationsService, NotificationsBatchService],
  exports: [NotificationsService],
})
export class NotificationsModule {}
