import { Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { NotificationsController } from './notifications.controller';
import { NotificationsService } from './notifications.service';
import { PublishConflictFilter } from './publish-conflict.filter';

@Module({
  controllers: [NotificationsController],
  providers: [NotificationsService, { provide: APP_FILTER, useClass: PublishConflictFilter }],
  exports: [NotificationsService],
})
export class NotificationsModule {}
