import { Module } from '@nestjs/common';
import { NotificationsModule } from '../../notifications/notifications.module';
import { RoomsModule } from '../../rooms/rooms.module';
import { WebhookMetrics } from './webhook.metrics';
import { WebhooksService } from './webhooks.service';

/** Section 8's webhooks; imported only when WEBHOOK_URL is set (HooksModule). */
@Module({
  imports: [RoomsModule, NotificationsModule],
  providers: [WebhooksService, WebhookMetrics],
})
export class WebhooksModule {}
